import { Body, Controller, Get, Patch, Put } from '@nestjs/common';
import { createZodDto } from 'nestjs-zod';
import { CurrentPrincipal, Principal } from '@herald/platform';
import { EventTriggeredSettings } from './settings.decider';
import { SettingsService } from './settings.service';

class SettingsDto extends createZodDto(EventTriggeredSettings) {}
class SettingsPatchDto extends createZodDto(EventTriggeredSettings.partial()) {}

@Controller('settings/event-triggered-updates')
export class SettingsController {
  constructor(private readonly settings: SettingsService) {}

  @Get()
  get(): Promise<EventTriggeredSettings> {
    return this.settings.current();
  }

  /** Replaces all settings; applies from the next trigger on. */
  @Put()
  put(@Body() body: SettingsDto, @CurrentPrincipal() who: Principal): Promise<EventTriggeredSettings> {
    return this.settings.change(body as EventTriggeredSettings, who.name);
  }

  /** Changes only the fields given. */
  @Patch()
  patch(@Body() body: SettingsPatchDto, @CurrentPrincipal() who: Principal): Promise<EventTriggeredSettings> {
    return this.settings.change(body as Partial<EventTriggeredSettings>, who.name);
  }

  /** Every change, oldest first: what changed, from what, to what, by whom, when. */
  @Get('history')
  async history() {
    return {
      changes: (await this.settings.history()).map((e) => ({ at: e.data.at, by: e.data.by, changes: e.data.changes, settings: e.data.settings })),
    };
  }
}
