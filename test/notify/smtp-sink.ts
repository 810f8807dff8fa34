/**
 * A real SMTP server process for the notification tests (smtp-server on a loopback ephemeral
 * port): STARTTLS with the given certificate, AUTH PLAIN/LOGIN required with the given user and
 * password (only after STARTTLS). Prints `{"port":N}` once listening, then one JSON line per
 * message accepted: `{ from, to, secure, user, raw }`.
 *
 * Run: node --import tsx test/notify/smtp-sink.ts <cert.pem> <key.pem> <user> <password>
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

const [certFile, keyFile, user, password] = process.argv.slice(2);
if (!certFile || !keyFile || !user || !password) {
  process.stderr.write('usage: smtp-sink.ts <cert.pem> <key.pem> <user> <password>\n');
  process.exit(2);
}

const server = new SMTPServer({
  cert: readFileSync(certFile),
  key: readFileSync(keyFile),
  authMethods: ['PLAIN', 'LOGIN'],
  allowInsecureAuth: false,
  logger: false,
  onAuth(auth, _session, callback) {
    if (auth.username === user && auth.password === password) callback(null, { user: auth.username });
    else callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
  },
  onData(stream, session, callback) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const message = {
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
        to: session.envelope.rcptTo.map((r) => r.address),
        secure: session.secure,
        user: session.user,
        raw: Buffer.concat(chunks).toString('utf8'),
      };
      process.stdout.write(`${JSON.stringify(message)}\n`);
      callback();
    });
  },
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.server.address() as AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
