import { Body, Controller, Get, Patch, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { ApiErrors, CurrentPrincipal, Principal } from '@herald/platform';
import { DEFAULT_SETTINGS, EventTriggeredSettings } from './settings.decider';
import { SettingsService } from './settings.service';

class SettingsDto extends createZodDto(EventTriggeredSettings) {}
class SettingsPatchDto extends createZodDto(EventTriggeredSettings.partial()) {}
class SettingsHistoryDto extends createZodDto(
  z.object({
    changes: z.array(
      z.object({
        at: z.string(),
        by: z.string().describe('The name of the admin token that made the change'),
        changes: z.array(z.object({ field: z.string(), from: z.unknown(), to: z.unknown() })),
        settings: EventTriggeredSettings,
      }),
    ),
  }),
) {}

@ApiTags('settings')
@Controller('settings/event-triggered-updates')
export class SettingsController {
  constructor(private readonly settings: SettingsService) {}

  @Get()
  @ApiOperation({ summary: 'The event-triggered update settings (rules R1–R4, R6)' })
  @ApiOkResponse({ type: SettingsDto })
  @ApiErrors()
  get(): Promise<EventTriggeredSettings> {
    return this.settings.current();
  }

  /** Replaces all settings; applies from the next trigger on. */
  @Put()
  @ApiOperation({ summary: 'Replace all settings; they apply from the next trigger on' })
  @ApiOkResponse({ type: SettingsDto })
  @ApiErrors(400, 403)
  put(@Body() body: SettingsDto, @CurrentPrincipal() who: Principal): Promise<EventTriggeredSettings> {
    return this.settings.change(body as EventTriggeredSettings, who.name);
  }

  /** Changes only the fields given. */
  @Patch()
  @ApiOperation({ summary: 'Change the settings given; they apply from the next trigger on' })
  @ApiOkResponse({ type: SettingsDto })
  @ApiErrors(400, 403)
  patch(@Body() body: SettingsPatchDto, @CurrentPrincipal() who: Principal): Promise<EventTriggeredSettings> {
    return this.settings.change(body as Partial<EventTriggeredSettings>, who.name);
  }

  /** Every change, oldest first: what changed, from what, to what, by whom, when. */
  @Get('history')
  @ApiOperation({ summary: 'Every change, oldest first' })
  @ApiOkResponse({ type: SettingsHistoryDto })
  @ApiErrors()
  async history() {
    return {
      changes: (await this.settings.history()).map((e) => ({ at: e.data.at, by: e.data.by, changes: e.data.changes, settings: { ...DEFAULT_SETTINGS, ...e.data.settings } })),
    };
  }
}
