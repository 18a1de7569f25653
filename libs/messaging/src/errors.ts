/** The broker cannot be used right now (not connected, or reconnecting). Retry later. */
export class BrokerUnavailableError extends Error {
  override name = 'BrokerUnavailableError';
}

/** The broker refused to take responsibility for a message (basic.nack) or the confirm timed out. */
export class PublishNotConfirmedError extends Error {
  override name = 'PublishNotConfirmedError';
}
