// Engine lookup by name; engines that need a native build load only when asked for.

import type { Engine, EngineName } from '../engine.js';
import { V8Engine } from './v8.js';

export const ENGINE_NAMES: EngineName[] = ['v8', 'wasm3', 'aot', 'qemu', 'qemu-aot', 'qemu-threadx'];

export async function engineByName(name: EngineName): Promise<Engine> {
  if (name === 'v8') return new V8Engine();
  // Each of wasm3.ts, aot.ts, qemu.ts, qemu-aot.ts and qemu-threadx.ts exports one class implementing Engine.
  const mod: Record<string, unknown> = await import(/* @vite-ignore */ `./${name}.js`);
  for (const value of Object.values(mod)) {
    if (typeof value === 'function' && typeof value.prototype?.replay === 'function') {
      return new (value as new () => Engine)();
    }
  }
  throw new Error(`engine ${name}: no Engine class in host/engines/${name}`);
}
