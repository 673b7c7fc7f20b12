/** What a promise of the broker settled to: 'ok', or the broker error's reason. */
export async function outcomeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    return (err as { reason?: string }).reason ?? String(err);
  }
}

/** The error a promise rejects with; fails the test when it resolves. */
export async function rejectionOf<E = Error & { reason: string; detail?: string; retryAfterSeconds?: number }>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (err) {
    return err as E;
  }
  throw new Error('expected a rejection, but the promise resolved');
}
