import { ProviderBadResponse } from '../errors';

/** Leeway for clock skew and the time the upstream took, on top of the lifetime asked for. */
export const EXPIRY_MARGIN_SECONDS = 300;

/**
 * An upstream's expiry is checked, never passed through blindly: it must be a real
 * instant, in the future, and no later than the lifetime the broker asked for (plus
 * `EXPIRY_MARGIN_SECONDS`). A credential that outlives what the key allows is a bad
 * response (502), not a longer-lived secret handed to the caller.
 */
export function checkExpiry(expiresAt: Date, requestedSeconds: number, upstream: string, now = Date.now()): Date {
  const time = expiresAt.getTime();
  if (Number.isNaN(time)) {
    throw new ProviderBadResponse(`${upstream} answered without a valid expiry`, { detail: `${upstream}: unreadable expiry` });
  }
  if (time <= now) {
    throw new ProviderBadResponse(`${upstream} answered with credentials that have already expired`, { detail: `${upstream}: expiry in the past` });
  }
  if (time > now + (requestedSeconds + EXPIRY_MARGIN_SECONDS) * 1000) {
    throw new ProviderBadResponse(`${upstream} answered with credentials that outlive the duration asked for`, {
      detail: `${upstream}: expiry ${Math.round((time - now) / 1000)} s ahead, ${requestedSeconds} s asked for`,
    });
  }
  return expiresAt;
}
