/** Events of the golden v1 segments: bytes written by v1 must decode to these forever. */
import type { UsageEvent } from '../../src/model/event.ts';

const base: UsageEvent = {
  event_id: '01JZ8Q3V6W9X2Y4Z5A7B8C9D0E',
  kind: 'Usage',
  correction_ref: null,
  account_id: 'cus_Alpha',
  subscription_id: 'sub_1',
  product_id: 'llm',
  meter_id: 'input_tokens',
  model_id: 'claude-sonnet',
  source: 'api',
  unit: 'token',
  timestamp_ms: 1_760_000_000_000,
  quantity: 1200n,
  dimensions: { region: 'eu-west-1', tier: 'pro' },
  ingested_at_ms: 1_760_000_000_500,
};

/** Mostly ULIDs: exercises the packed event_id encoding. */
export const GOLDEN_ULID_EVENTS: UsageEvent[] = [
  base,
  { ...base, event_id: '01JZ8Q3V6X0000000000000000', timestamp_ms: 1_760_000_000_001, quantity: -(2n ** 127n), model_id: null },
  {
    ...base,
    event_id: '01JZ8Q3V6Y7ZZZZZZZZZZZZZZZ',
    kind: 'Correction',
    correction_ref: { original_event_id: '01JZ8Q3V6W9X2Y4Z5A7B8C9D0E', reason: 'double "count"' },
    quantity: 2n ** 127n - 1n,
  },
  { ...base, event_id: 'custom-id-ü', account_id: 'cus_Beta', subscription_id: null, kind: 'Retraction', quantity: 0n, dimensions: {} },
  {
    ...base,
    event_id: '01JZ8Q3V6Z1111111111111111',
    account_id: 'cus_Beta',
    meter_id: 'requests',
    unit: 'request',
    quantity: 2n ** 53n,
    timestamp_ms: 1_760_000_003_000,
  },
];

/** Arbitrary strings: exercises the string-block event_id encoding and unicode everywhere. */
export const GOLDEN_STRING_EVENTS: UsageEvent[] = [
  { ...base, event_id: 'e-1', account_id: '😀 acct', dimensions: { '\uFEFF': '𝄞', a: '"\\' } },
  { ...base, event_id: 'e-2', account_id: '😀 acct', timestamp_ms: 1, ingested_at_ms: 2 ** 47, quantity: -5n },
  { ...base, event_id: 'e-3', account_id: 'a', product_id: 'é', source: '', quantity: -(2n ** 53n) - 1n },
];

// Bytes written by format v1 (see golden-events.ts). They are persisted in object stores, so
// every future reader must decode them to exactly these events: never regenerate these
// constants to make a change pass; a format change is a new version that still reads v1.
export const ULID_SEGMENT =
  '55534547015b000000050e00004a4c02014a09090002532c2c00037f1a1c010499010f0f0005a8010d0d0006b5011e1f' +
  '0107d30117170008ea010d0d0009f7011717000a8e020c0c000b9a020b0b000ca5020f31010db4022e2f012420636464' +
  'e6492e2d2ec9cfd5cd4cd13dbce7f8996bafedc0c46110b1f137900000000000000000000000004f45e27caa3ad0c4b4' +
  '0e3fffffffffffffffffff0842108421084210842104000201010201000101021a30314a5a3851335636573958325934' +
  '5a354137423843394430450e646f75626c652022636f756e74226362e0e4104c2e2d8e77cc29c84804319c524b121980' +
  '80911100020105057375625f31000101010001010003036c6c6d0000000000006362e0e110c9cc2b282d892fc9cf4ecd' +
  '2b2e4a2d2c4d2d2e29660001460002010d0d636c617564652d736f6e6e65740000010101010100030361706900000000' +
  '0000020007050c72657175657374746f6b656e000101010100008280e682b966010000f02e00e887e682b96600000000' +
  'fb8f01981f08fdc31464688000050063526652ad562a4a4dcfcccf53b2524a2dd52d4f2d2ed13554d2512ac94c2d020a' +
  '1514e52bd556d73200012303006f31da3347455355';
export const ULID_HASHES =
  '55485348010000000500000000000000809e0ede8444b10a62993745c582be30ca7e229f58a16c5739c4e454bb38fb6e' +
  '00401fcc829c7942d99f6194de9c88fd482b3760bc0b4b5240cadfe345348adfe05fe680e6808bf400401fcc829c7942' +
  '972bc76b7de1a51e641c69ffe0697a872314a99369491995a64dccb92fda205900401fcc829c79428f6e2f3521fdadd9' +
  'c67f6cacba36d19122cc1c8fc76e157cbca30048da82005400401fcc829c79425705dac238663d3ee5844e8464cecd84' +
  'cbb6f4910d2813a9a80a4de0f689126c00401fcc829c79423687c76d';
export const STRING_SEGMENT =
  '555345470155000000030e00000e0e00010e0303000211010100031213130004250d0d0005320e0e0006401414000754' +
  '15150008690c0c0009750d0d000a82011113010b93011415010ca7010b0b000db2014244010003030309652d33652d32' +
  '652d3101000300020001070a61f09f9880206163637400000101010005057375625f310000000002000301056c6c6dc3' +
  'a90001000001000c0c696e7075745f746f6b656e730000000001000d0d636c617564652d736f6e6e6574000000000200' +
  '0003036170690000010101000505746f6b656e0000000063686878d6b433edefffa740f21f9804006378d1feac6967da' +
  '8c1f33ff1e9b693f1d420100818080808080802009e012631255b6a9564a54b2528a518a8951d2517abf7b3f90f3616e' +
  'cb3ca5da6aa5a2d4f4ccfc3ca0406aa96e796a7189ae21504949666a1150a8a0285fa99681919101008eba8bca474553' +
  '55';
export const STRING_HASHES =
  '5548534801000000030000000000000032cfe5ce0cbc9d5c0cbc9d5c0cbc9d5c8b741130c15aa91b44cb9ad76bc7be3e' +
  '00401fcc829c794200760816fbea8a2dfbea8a2dfbea8a2d140815dfa96553a922d4186468322c0f000000000000e042' +
  'a9c191d80c7c90580c7c90580c7c905800dbcb64b3d74c548775e9168d40b3fc00401fcc829c794281d0ce3f';

/** Hex → bytes. */
export const hexBytes = (hex: string): Uint8Array => Uint8Array.from(hex.match(/../g)!, (h) => parseInt(h, 16));
