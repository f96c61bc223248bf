// The host's copy of the few configuration values it schedules by (baseline and system
// information intervals). The core owns and validates the configuration; this copy is only
// updated with updates the core has accepted.

type Priority = 'high' | 'medium' | 'low';

interface Scheduled { enabled: boolean; interval: Priority }

/** The linux profile's defaults (SPEC R6), for what the host schedules. */
export const LINUX_SCHEDULE_DEFAULTS = {
  systemInformation: { enabled: true, interval: 'low' as Priority },
  baseline: { enabled: true, interval: 'low' as Priority },
  priorityIntervals: { high: 1800, medium: 7200, low: 86400 } as Record<Priority, number>,
};

export class AgentSettings {
  private systemInformation: Scheduled = { ...LINUX_SCHEDULE_DEFAULTS.systemInformation };
  private baseline: Scheduled = { ...LINUX_SCHEDULE_DEFAULTS.baseline };
  private priorityIntervals = { ...LINUX_SCHEDULE_DEFAULTS.priorityIntervals };

  /** Merges an update the core accepted. */
  merge(update: Record<string, unknown>): void {
    const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
    for (const [key, target] of [['systemInformation', this.systemInformation], ['baseline', this.baseline]] as const) {
      const u = obj(update[key]);
      if (typeof u.enabled === 'boolean') target.enabled = u.enabled;
      if (u.interval === 'high' || u.interval === 'medium' || u.interval === 'low') target.interval = u.interval;
    }
    const p = obj(update.priorityIntervals);
    for (const k of ['high', 'medium', 'low'] as const) if (typeof p[k] === 'number') this.priorityIntervals[k] = p[k] as number;
  }

  /** How often to run the baseline or read system information, in ms; undefined when disabled. */
  periodMs(kind: 'baseline' | 'systemInformation'): number | undefined {
    const s = this[kind];
    return s.enabled ? this.priorityIntervals[s.interval] * 1000 : undefined;
  }
}
