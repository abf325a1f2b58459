// The domain model every layer speaks, in one import: entries (model/entries.ts), the stored records
// (model/records.ts), the published formats (model/formats.ts), the entry helpers
// (model/entry-helpers.ts) and the source policy (model/source-policy.ts). Nothing under model/
// imports anything of ours outside it: it is plain data and pure functions.
export * from './model/entries.js';
export * from './model/records.js';
export * from './model/formats.js';
export * from './model/entry-helpers.js';
export * from './model/source-policy.js';
