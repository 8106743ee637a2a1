import { describe, expect, it } from 'vitest';
import { parseTopic, topicFor } from './topics.js';

describe('parseTopic', () => {
  it.each([
    ['ingest/acme/feeder-1/batch', { tenant: 'acme', device: 'feeder-1', kind: 'batch' }],
    ['ingest/acme/feeder.1_b/sync', { tenant: 'acme', device: 'feeder.1_b', kind: 'sync' }],
    ['ingest/acme/d/ack', { tenant: 'acme', device: 'd', kind: 'ack' }],
    ['ingest/acme/d/other', null],
    ['ingest/acme/batch', null],
    ['ingest/-acme/d/batch', null],
    [`ingest/${'a'.repeat(65)}/d/batch`, null],
    ['other/acme/d/batch', null],
    ['ingest/acme/d/batch/extra', null],
  ])('%s', (topic, want) => {
    expect(parseTopic(topic)).toEqual(want);
  });

  it('round-trips topicFor', () => {
    expect(parseTopic(topicFor('t1', 'd1', 'ack'))).toEqual({ tenant: 't1', device: 'd1', kind: 'ack' });
  });
});
