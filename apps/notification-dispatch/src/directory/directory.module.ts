import { Module } from '@nestjs/common';
import { Directory } from './directory';

/** Dispatch's copy of the other services' facts: agents and the latest component versions. */
@Module({ providers: [Directory], exports: [Directory] })
export class DirectoryModule {}
