/**
 * The SerialLink contract (elm327-session.ts) as one suite, run by serial-link.conformance.test.ts
 * against every port factory: serialport's mock binding, the native serial port on a pty, and the
 * scripted adapter of the session's unit tests. What the session relies on: a link is open only
 * between a successful `open` callback and its closing; what is written reaches the adapter and its
 * answer comes back as `data`, in order; a missing device is an error passed to the `open` callback,
 * never a throw; and a link whose device goes away says so with `close` (or `error`).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PortFactory, SerialLink } from './elm327-session.ts';

export interface AdapterOnPort {
  path: string;
  openPort: PortFactory;
  /** Takes the device away under an open link (a USB adapter pulled out); only where `unplugs`. */
  unplug?(): Promise<void>;
  close(): Promise<void>;
}

export interface SerialLinkUnderTest {
  /** An ELM327 (emulated or scripted) that answers `ATI` with a line holding `ELM327` and a `>` prompt. */
  start(): Promise<AdapterOnPort>;
  /** The factory, and a path nothing is attached to. */
  missing(): { path: string; openPort: PortFactory };
  /** The device can be taken away under an open link (serialport's mock binding cannot). */
  readonly unplugs: boolean;
}

const WAIT = { timeout: 10_000, interval: 10 };

function opened(link: SerialLink): Promise<Error | null> {
  return new Promise((resolve) => link.open(resolve));
}

export function describeSerialLink(name: string, under: SerialLinkUnderTest): void {
  describe(`SerialLink conformance: ${name}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });
    const connect = async (): Promise<{ adapter: AdapterOnPort; link: SerialLink; received: () => string }> => {
      const adapter = await under.start();
      cleanups.push(() => adapter.close());
      const link = adapter.openPort({ path: adapter.path, baudRate: 38400 });
      let text = '';
      link.on('data', (chunk) => (text += chunk.toString('latin1')));
      link.on('error', () => {});
      cleanups.push(() => (link.isOpen ? new Promise<void>((resolve) => link.close(() => resolve())) : Promise.resolve()));
      return { adapter, link, received: () => text };
    };

    it('is open only from a successful open() until close(), which calls back and emits close', async () => {
      const { link } = await connect();
      expect(link.isOpen).toBe(false);
      expect(await opened(link)).toBeNull();
      expect(link.isOpen).toBe(true);
      const closeEvent = new Promise<void>((resolve) => link.on('close', () => resolve()));
      await new Promise<void>((resolve, reject) => link.close((error) => (error ? reject(error) : resolve())));
      await closeEvent;
      expect(link.isOpen).toBe(false);
    });

    it("carries a command to the adapter and the adapter's answer back, up to its prompt", async () => {
      const { link, received } = await connect();
      expect(await opened(link)).toBeNull();
      const written = new Promise<Error | null | undefined>((resolve) => link.write('ATI\r', resolve));
      expect(await written).toBeFalsy();
      await vi.waitUntil(() => received().includes('>'), WAIT);
      expect(received()).toMatch(/ELM327[^>]*>$/);
      // A second command after the prompt: the link keeps both directions going.
      link.write('ATI\r');
      await vi.waitUntil(() => (received().match(/>/g) ?? []).length === 2, WAIT);
    });

    it('passes a missing device to the open() callback as an error, without throwing', async () => {
      const { path, openPort } = under.missing();
      const link = openPort({ path, baudRate: 38400 });
      link.on('error', () => {});
      expect(await opened(link)).toBeInstanceOf(Error);
      expect(link.isOpen).toBe(false);
    });

    if (under.unplugs) {
      it('says so with close or error when its device goes away, and is no longer open', async () => {
        const { adapter, link } = await connect();
        expect(await opened(link)).toBeNull();
        const lost = new Promise<void>((resolve) => {
          link.on('close', () => resolve());
          link.on('error', () => resolve());
        });
        await adapter.unplug!();
        await lost;
        await vi.waitUntil(() => !link.isOpen, WAIT);
      });
    }
  });
}
