// The dashboard's text/event-stream parser (web/static/sse.js), fed the way
// fetch() delivers a stream: in chunks cut anywhere. It has no DOM, so it
// runs in Node as it is.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { SSEParser } from '../web/static/sse.js';

/** Feeds chunks and answers everything the parser reported. */
function parse(chunks, lastId) {
  const out = [];
  const p = new SSEParser({
    event: (e) => out.push(['event', e.type, e.data, e.id]),
    comment: (c) => out.push(['comment', c]),
    retry: (ms) => out.push(['retry', ms]),
  });
  if (lastId !== undefined) p.lastId = lastId;
  for (const c of chunks) p.feed(c);
  p.end();
  return out;
}

// What the server sends (see internal/handlers/watch_sse.go).
const STREAM =
  'retry: 2000\n\n' +
  'id: 17\nevent: created\ndata: {"id":"a","version":1}\n\n' +
  ': keep-alive\n\n' +
  'event: lagged\ndata: {"message":"dropped"}\n\n' +
  'id: 18\nevent: deleted\ndata: {"id":"a"}\n\n';

const WANT = [
  ['retry', 2000],
  ['event', 'created', '{"id":"a","version":1}', '17'],
  ['comment', 'keep-alive'],
  // No id line: the last id carries over, as in EventSource.
  ['event', 'lagged', '{"message":"dropped"}', '17'],
  ['event', 'deleted', '{"id":"a"}', '18'],
];

test('parses the server stream in one piece', () => {
  assert.deepEqual(parse([STREAM]), WANT);
});

test('parses the server stream cut at every position', () => {
  for (let i = 0; i <= STREAM.length; i++) {
    assert.deepEqual(parse([STREAM.slice(0, i), STREAM.slice(i)]), WANT, `cut at ${i}`);
  }
  assert.deepEqual(parse([...STREAM]), WANT, 'one character at a time');
});

test('takes CRLF and CR line ends, also split between chunks', () => {
  const crlf = STREAM.replaceAll('\n', '\r\n');
  assert.deepEqual(parse([crlf]), WANT);
  for (let i = 0; i <= crlf.length; i++) {
    assert.deepEqual(parse([crlf.slice(0, i), '', crlf.slice(i)]), WANT, `CRLF cut at ${i}`);
  }
  assert.deepEqual(parse([STREAM.replaceAll('\n', '\r')]), WANT);
});

test('follows the standard on the finer points', () => {
  assert.deepEqual(
    parse([
      'data\n\n', // a field without a colon has an empty value
      'data:no space\ndata:  two spaces\n\n', // one leading space only is dropped
      'event: x\n\n', // no data: nothing is dispatched, and the type resets
      'data: plain\n\n', // the default type
      'id: 5\0x\ndata: nul id ignored\n\n',
      'retry: soon\nretry: 10\nunknown: field\n\n',
      'data: cut off at the end', // no blank line: dropped
    ]),
    [
      ['event', 'message', '', ''],
      ['event', 'message', 'no space\n two spaces', ''],
      ['event', 'message', 'plain', ''],
      ['event', 'message', 'nul id ignored', ''],
      ['retry', 10],
    ],
  );
  // The last id of a previous connection carries over to the next one.
  assert.deepEqual(parse(['data: x\n\n'], '42'), [['event', 'message', 'x', '42']]);
});
