import { ConfigError } from '../../core/errors.ts';
import { didYouMean } from '../../core/suggest.ts';
import { localLabel } from '../../core/time.ts';
import { isOpen, type WindowsPolicy } from '../../core/window.ts';
import type { EnvironmentsPolicy } from '../../policy/environments.ts';
import type { MaintenancePolicy } from '../../policy/maintenance.ts';

/**
 * When `maintain run` may start an action: inside the environment's maintenance window and within the time
 * budget. Pure: the clock is an argument (the applier passes its own, tests a fixed one). The window is judged
 * on this machine's clock in the window's zone, as deploys' change windows are.
 */

/** The maintenance window of one environment (policies/maintenance.yaml `windows.<environment>`). */
export interface MaintenanceWindow extends WindowsPolicy {
  environment: string;
}

/** A window as judged at one instant, for the run's result and report. */
export interface WindowStatus {
  environment: string;
  zone: string;
  open: boolean;
  /** The window open now, described (`sun 05:00–09:00 (UTC)`). */
  window?: string;
  /** When open: the instant the window closes (ISO 8601); absent when it never closes. */
  closesAt?: string;
  /** When closed: the instant the next window opens (ISO 8601); absent when none ever opens. */
  nextOpen?: string;
  /** One line for humans: open until when, or closed until when. */
  summary: string;
}

/** `Sun 2026-12-06 09:00 UTC`: an instant as the window's wall clock shows it. */
export const windowLabel = (zone: string, at: Date): string => `${localLabel(zone, at)} ${zone}`;

export function windowStatus(w: MaintenanceWindow, now: Date): WindowStatus {
  const state = isOpen(w, now);
  const head = { environment: w.environment, zone: w.zone, open: state.open };
  if (state.open) {
    const until = state.closesAt ? `, closes ${windowLabel(w.zone, state.closesAt)}` : '';
    return {
      ...head,
      ...(state.window ? { window: state.window } : {}),
      ...(state.closesAt ? { closesAt: state.closesAt.toISOString() } : {}),
      summary: `the maintenance window of ${w.environment} is open (${w.open.length === 0 ? 'no openings defined: always' : state.window}${until})`,
    };
  }
  return {
    ...head,
    ...(state.nextOpen ? { nextOpen: state.nextOpen.toISOString() } : {}),
    summary: `the maintenance window of ${w.environment} is closed (it is ${windowLabel(w.zone, now)}); ${
      state.nextOpen ? `it next opens ${windowLabel(w.zone, state.nextOpen)}` : 'no window ever opens'
    }`,
  };
}

/** What bounds one run: the window (when the environment has one) and the budget counted from `startedAt`. */
export interface RunLimits {
  window?: MaintenanceWindow;
  /** When the window open at the start closes (from windowStatus at the start). */
  closesAt?: Date;
  /** The budget as the policy writes it (`3h`), and in milliseconds; 0 = none. */
  budget: string;
  budgetMs: number;
  startedAt: Date;
}

/**
 * Why no further action may start at `now`, or undefined when one may. The window goes first: an operator
 * reading "window closed" knows the rest waits for the next window, whatever the budget says.
 */
export function stopReason(limits: RunLimits, now: Date): string | undefined {
  const w = limits.window;
  if (w && !isOpen(w, now).open) {
    const closed = limits.closesAt && limits.closesAt.getTime() <= now.getTime() ? limits.closesAt : now;
    return `the maintenance window of ${w.environment} closed at ${windowLabel(w.zone, closed)}`;
  }
  if (limits.budgetMs > 0 && now.getTime() - limits.startedAt.getTime() >= limits.budgetMs)
    return `the budget of ${limits.budget} is spent (the run started ${windowLabel('UTC', limits.startedAt)})`;
  return undefined;
}

/**
 * The maintenance window of `environment`, or undefined when policies/maintenance.yaml gives it none. Every key
 * of `windows` must be an environment of policies/environments.yaml: a misspelt key would otherwise leave
 * that environment without its window, silently.
 */
export function maintenanceWindowOf(
  policy: MaintenancePolicy,
  environments: EnvironmentsPolicy,
  environment: string,
  file = 'policies/maintenance.yaml',
): MaintenanceWindow | undefined {
  const known = Object.keys(environments.environments);
  const unknown = Object.keys(policy.windows).filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw new ConfigError(
      `${file}: windows.${unknown[0]} names no environment of policies/environments.yaml (it defines ${known.map((n) => `"${n}"`).join(', ') || 'none'}).${didYouMean(unknown[0]!, known)}`,
      { hint: `Rename windows.${unknown[0]} to an environment's name, or declare that environment in policies/environments.yaml.` },
    );
  const w = policy.windows[environment];
  return w ? { environment, zone: w.zone, open: w.open } : undefined;
}
