/**
 * Events as a client sends them (JSON of POST /v1/usage/batch), for tests that talk to a server
 * over HTTP or through `app.request`. `plain`: one meter, model and region; `varied`: meters,
 * models and regions spread by `n`, so groups and shards get several of each.
 */
export interface WireEvent extends Record<string, unknown> {
  readonly event_id: string;
  readonly account_id: string;
  readonly quantity: number | string;
  readonly timestamp_ms: number;
}

export interface WireEventSpec {
  readonly id: string;
  readonly account: string;
  readonly at: number;
  readonly quantity: number | string;
  /** Spread meter (2), model (`models`) and region by this number. */
  readonly varied?: { readonly n: number; readonly models: number };
}

export function wireEvent(spec: WireEventSpec): WireEvent {
  const v = spec.varied;
  return {
    event_id: spec.id,
    account_id: spec.account,
    product_id: 'chat',
    meter_id: v === undefined || v.n % 2 === 0 ? 'tokens.input' : 'tokens.output',
    model_id: v === undefined ? 'model-a' : `model-${v.n % v.models}`,
    source: 'api',
    unit: 'tokens',
    timestamp_ms: spec.at,
    quantity: spec.quantity,
    dimensions: { region: v === undefined || v.n % 3 === 0 ? 'eu' : 'us' },
  };
}
