/** One AMQP frame as it crosses a proxy: its type (1 method), channel, and for a method frame its class and method. */
export interface AmqpFrameSeen {
  type: number;
  channel: number;
  classId?: number;
  methodId?: number;
}

/** The end octet of every AMQP 0-9-1 frame. */
const FRAME_END = 0xce;
/** type (1) + channel (2) + payload size (4). */
const FRAME_HEADER = 7;
/** What a client sends first: "AMQP" 0 0 9 1, not a frame. */
export const AMQP_PROTOCOL_HEADER_LENGTH = 8;

/**
 * A basic.ack method frame (class 60, method 80) on `channel`: well formed, but for a channel the client never opened
 * amqplib takes it for a protocol error ("Frame on unknown channel") and closes the connection over it.
 */
export function basicAckFrame(channel: number, deliveryTag = 1n): Buffer {
  const payload = Buffer.alloc(2 + 2 + 8 + 1);
  payload.writeUInt16BE(60, 0);
  payload.writeUInt16BE(80, 2);
  payload.writeBigUInt64BE(deliveryTag, 4);
  payload.writeUInt8(0, 12); // multiple: false
  const header = Buffer.alloc(FRAME_HEADER);
  header.writeUInt8(1, 0);
  header.writeUInt16BE(channel, 1);
  header.writeUInt32BE(payload.length, 3);
  return Buffer.concat([header, payload, Buffer.from([FRAME_END])]);
}

/**
 * Cuts a byte stream into whole AMQP frames, whatever the chunks it arrives in. `skip` bytes come first that are not
 * a frame (the client's protocol header).
 */
export class AmqpFrameSplitter {
  private rest = Buffer.alloc(0);

  constructor(private skip = 0) {}

  push(chunk: Buffer): Buffer[] {
    this.rest = Buffer.concat([this.rest, chunk]);
    if (this.skip > 0) {
      const skipped = Math.min(this.skip, this.rest.length);
      this.rest = this.rest.subarray(skipped);
      this.skip -= skipped;
    }
    const frames: Buffer[] = [];
    while (this.rest.length >= FRAME_HEADER) {
      const length = FRAME_HEADER + this.rest.readUInt32BE(3) + 1;
      if (this.rest.length < length) break;
      frames.push(this.rest.subarray(0, length));
      this.rest = this.rest.subarray(length);
    }
    return frames;
  }
}

/** What a test matches a whole frame on. */
export function amqpFrameSeen(frame: Buffer): AmqpFrameSeen {
  const type = frame.readUInt8(0);
  const channel = frame.readUInt16BE(1);
  return type === 1 ? { type, channel, classId: frame.readUInt16BE(7), methodId: frame.readUInt16BE(9) } : { type, channel };
}
