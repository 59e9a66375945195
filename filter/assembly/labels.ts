// What the decision record and the 403 say of each rule: "perimeter/rule", and the response
// details perimeter_denied[perimeter/rule@version], made once per policy.
import { ptrOf, utf8 } from "./bytes";
import { ACTION_DENY, NO_BYTES, Policy } from "./policy";

function concat3(a: string, p: usize, plen: usize, b: string): ArrayBuffer {
  const head = utf8(a);
  const tail = utf8(b);
  const out = new ArrayBuffer(head.byteLength + <i32>plen + tail.byteLength);
  const o = ptrOf(out);
  memory.copy(o, ptrOf(head), head.byteLength);
  memory.copy(o + head.byteLength, p, plen);
  memory.copy(o + head.byteLength + plen, ptrOf(tail), tail.byteLength);
  return out;
}

function label(policy: Policy, perimPtr: usize, perimLen: usize, name: string, ruleNamePtr: usize, ruleNameLen: usize): ArrayBuffer {
  const n = name.length > 0 ? utf8(name) : NO_BYTES;
  const np = name.length > 0 ? ptrOf(n) : ruleNamePtr;
  const nl = name.length > 0 ? <usize>n.byteLength : ruleNameLen;
  const out = new ArrayBuffer(<i32>(perimLen + 1 + nl));
  const o = ptrOf(out);
  memory.copy(o, perimPtr, perimLen);
  store<u8>(o + perimLen, 0x2f);
  memory.copy(o + perimLen + 1, np, nl);
  return out;
}

/** Record labels and deny details, made once per policy so a request only copies bytes. */
export function buildLabels(policy: Policy): void {
  const mesh = utf8('mesh');
  const dp = policy.defaultPerimeterLen > 0 ? policy.defaultPerimeterPtr : ptrOf(mesh);
  const dl = policy.defaultPerimeterLen > 0 ? policy.defaultPerimeterLen : <usize>mesh.byteLength;
  policy.defaultLabel = label(policy, dp, dl, 'default', 0, 0);
  policy.unsafeLabel = label(policy, dp, dl, 'unsafe-request', 0, 0);
  policy.defaultDetails = details(policy, policy.defaultLabel);
  policy.unsafeDetails = details(policy, policy.unsafeLabel);
  for (let i = 0; i < policy.rules.length; i++) {
    const rule = policy.rules[i];
    const p = policy.perimeters[rule.perimeter];
    rule.label = label(policy, p.namePtr, p.nameLen, '', rule.namePtr, rule.nameLen);
    // Only a deny rule's name goes into a 403's details.
    if (rule.action == ACTION_DENY) rule.details = details(policy, rule.label);
  }
}

function details(policy: Policy, lab: ArrayBuffer): ArrayBuffer {
  const a = concat3('perimeter_denied[', ptrOf(lab), lab.byteLength, '@');
  const b = concat3('', policy.versionPtr, policy.versionLen, ']');
  const out = new ArrayBuffer(a.byteLength + b.byteLength);
  memory.copy(ptrOf(out), ptrOf(a), a.byteLength);
  memory.copy(ptrOf(out) + a.byteLength, ptrOf(b), b.byteLength);
  return out;
}
