// A parser of the text/event-stream format, as the HTML standard describes
// it for EventSource (§9.2.6 "Interpreting an event stream"), for a stream
// read with fetch(): EventSource cannot send an Authorization header.
//
// Feed it decoded text in chunks of any size; it calls back once per
// complete event, per comment line and per `retry:` field. It does no I/O
// and touches no DOM, so it can be tested on its own.

export class SSEParser {
  /**
   * @param {{event?: (e: {type: string, data: string, id: string}) => void,
   *          comment?: (text: string) => void,
   *          retry?: (ms: number) => void}} on
   */
  constructor(on) {
    this.on = on;
    this.buf = ''; // text after the last complete line
    this.skipLF = false; // the last chunk ended in CR: a leading LF belongs to it
    this.lastId = ''; // the last event id buffer: it carries over between events
    this.reset();
  }

  reset() {
    this.type = '';
    this.data = '';
    this.hasData = false;
  }

  /** Takes the next piece of the stream's text. */
  feed(text) {
    if (text === '') return;
    if (this.skipLF && text.startsWith('\n')) text = text.slice(1);
    this.skipLF = false;
    const buf = this.buf + text;
    const eol = /\r\n|\r|\n/g;
    let start = 0;
    for (;;) {
      eol.lastIndex = start;
      const found = eol.exec(buf);
      if (!found) break;
      // A CR at the very end may be the first half of a CRLF.
      if (found[0] === '\r' && found.index === buf.length - 1) this.skipLF = true;
      this.line(buf.slice(start, found.index));
      start = found.index + found[0].length;
    }
    this.buf = buf.slice(start);
  }

  /** The stream ended: an event without its closing blank line is dropped. */
  end() {
    this.buf = '';
    this.skipLF = false;
    this.reset();
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) {
      this.on.comment?.(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.type = value;
        break;
      case 'data':
        this.data += value + '\n';
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.on.retry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  dispatch() {
    if (!this.hasData) {
      this.reset();
      return;
    }
    const e = { type: this.type || 'message', data: this.data.slice(0, -1), id: this.lastId };
    this.reset();
    this.on.event?.(e);
  }
}
