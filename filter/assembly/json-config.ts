// Istio's WasmPlugin hands `pluginConfig` to the module as JSON text, not as BytesValue. Ours is
// then {"policy": "<the CompiledPolicy, base64>"}: the same bytes ECDS sends. Only that one key
// is read; escapes JSON may put into base64 ("\/") are skipped. Runs at configure time only.
import { ptrOf, sameBytes } from "./bytes";

const KEY = String.UTF8.encode('"policy"');

function sextet(c: u32): i32 {
  if (c >= 65 && c <= 90) return <i32>c - 65; // A-Z
  if (c >= 97 && c <= 122) return <i32>c - 71; // a-z
  if (c >= 48 && c <= 57) return <i32>c + 4; // 0-9
  if (c == 43 || c == 45) return 62; // + or -
  if (c == 47 || c == 95) return 63; // / or _
  return -1;
}

function isSpace(c: u32): bool {
  return c == 32 || c == 9 || c == 10 || c == 13;
}

/** The policy bytes inside a JSON configuration, or null when there are none or they are not base64. */
export function policyFromJson(src: ArrayBuffer): ArrayBuffer | null {
  const p = ptrOf(src);
  const n = <usize>src.byteLength;
  const k = ptrOf(KEY);
  const kl = <usize>KEY.byteLength;
  let i: usize = 0;
  while (i + kl <= n && !sameBytes(p + i, k, kl)) i++;
  if (i + kl > n) return null;
  i += kl;
  while (i < n && isSpace(load<u8>(p + i))) i++;
  if (i >= n || load<u8>(p + i) != 58) return null; // ':'
  i++;
  while (i < n && isSpace(load<u8>(p + i))) i++;
  if (i >= n || load<u8>(p + i) != 34) return null; // '"'
  i++;
  const start = i;
  let sextets: usize = 0;
  while (i < n) {
    const c = <u32>load<u8>(p + i);
    if (c == 34) break;
    if (c == 92) {
      i += 2; // "\/" and the like
      if (i <= n && load<u8>(p + i - 1) == 47) sextets++;
      continue;
    }
    if (c == 61) {
      i++; // '=' padding
      continue;
    }
    if (sextet(c) < 0) return null;
    sextets++;
    i++;
  }
  if (i >= n || sextets == 0 || sextets % 4 == 1) return null;
  const out = new ArrayBuffer(<i32>((sextets * 6) >> 3));
  const o = ptrOf(out);
  let acc: u32 = 0;
  let bits: u32 = 0;
  let w: usize = 0;
  for (let j = start; j < i; j++) {
    let c = <u32>load<u8>(p + j);
    if (c == 61) continue;
    if (c == 92) {
      j++;
      c = <u32>load<u8>(p + j);
    }
    acc = (acc << 6) | <u32>sextet(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      store<u8>(o + w, <u8>((acc >> bits) & 0xff));
      w++;
    }
  }
  return out;
}
