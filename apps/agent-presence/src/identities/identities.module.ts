import { Module } from '@nestjs/common';
import { AgentAdmission } from './agent-admission';
import { BrokerAuthController } from './broker-auth.controller';
import { IdentitiesController } from './identities.controller';

/** Agents' own broker identities: enrolment, admission by admins, and the broker's HTTP auth backend. */
@Module({
  controllers: [BrokerAuthController, IdentitiesController],
  providers: [AgentAdmission],
})
export class IdentitiesModule {}
