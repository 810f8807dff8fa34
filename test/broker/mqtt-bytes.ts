/** Hand-made MQTT 3.1.1 packets for tests that must send bytes a well-behaved client never would. */
const str = (s: string): Buffer => {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

export function frame(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

export function connectPacket(clientId: string, username?: string, password?: string): Buffer {
  const flags = 0x02 | (username !== undefined ? 0x80 : 0) | (password !== undefined ? 0x40 : 0);
  const body = Buffer.concat([
    str('MQTT'), Buffer.from([4, flags, 0, 60]), str(clientId),
    ...(username !== undefined ? [str(username)] : []),
    ...(password !== undefined ? [str(password)] : []),
  ]);
  return frame(0x10, body);
}

export function publishPacket(topic: string, payload: Buffer, qos: 0 | 1 = 0, messageId = 1): Buffer {
  const id = qos > 0 ? [Buffer.from([messageId >> 8, messageId & 0xff])] : [];
  return frame(0x30 | (qos << 1), Buffer.concat([str(topic), ...id, payload]));
}

export function subscribePacket(filter: string, messageId = 1): Buffer {
  return frame(0x82, Buffer.concat([Buffer.from([messageId >> 8, messageId & 0xff]), str(filter), Buffer.from([1])]));
}

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** Sends a CONNECT from `localAddress` over a raw socket; resolves with the CONNACK return code (or 'closed'). */
export async function rawConnack(port: number, packet: Buffer, localAddress = '127.0.0.1'): Promise<number | 'closed'> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    let data = Buffer.alloc(0);
    socket.on('connect', () => socket.write(packet));
    socket.on('data', (d) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 4 && data[0] === 0x20) {
        resolve(data[3]!);
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve('closed'));
  });
}
