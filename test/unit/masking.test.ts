/** Masks applied when a purpose reads a field masked. Unrecognised values must come back fully masked, never in clear. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Masking } from "../../src/core/catalog/catalog-schema.js";
import { FULL_MASK, mask } from "../../src/core/masking.js";

const table: [kind: Masking, input: unknown, expected: unknown][] = [
  ["phone", "010-1234-5678", "010-****-5678"],
  ["phone", "010-123-4567", "010-***-4567"],
  ["phone", "01012345678", "010****5678"],
  ["phone", "02-123-4567", "02-***-4567"],
  ["phone", "+82-10-1234-5678", "+82-**-****-5678"],
  ["phone", "1234", FULL_MASK],
  ["phone", "call me", FULL_MASK],
  ["email", "kim@example.com", "k***@example.com"],
  ["email", "a@b.kr", "a***@b.kr"],
  ["email", "홍길동@example.kr", "홍***@example.kr"],
  ["email", "not-an-email", FULL_MASK],
  ["email", "@example.com", FULL_MASK],
  ["name", "홍길동", "홍*동"],
  ["name", "홍길", "홍*"],
  ["name", "남궁민수", "남**수"],
  ["name", "홍", "*"],
  ["name", "John Smith", "J********h"],
  ["name", "  ", FULL_MASK],
  ["last4", "1234567890121234", "************1234"],
  ["last4", "1234-5678-9012-3456", "************3456"],
  ["last4", "110-123-456789", "********6789"],
  ["last4", "1234", FULL_MASK],
  ["rrn", "900101-1234567", "900101-1******"],
  ["rrn", "9001011234567", "900101-1******"],
  ["rrn", "900101-123", FULL_MASK],
  ["ip", "203.0.113.57", "203.0.113.***"],
  ["ip", "2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3:****:****:****:****:****"],
  ["ip", "not an ip", FULL_MASK],
  ["full", "anything", FULL_MASK],
  ["full", { diagnosis: "x" }, FULL_MASK],
  ["full", 42, FULL_MASK],
  ["none", "010-1234-5678", "010-1234-5678"],
  ["none", { a: 1 }, { a: 1 }],
];

describe("mask", () => {
  for (const [kind, input, expected] of table) {
    it(`${kind}: ${JSON.stringify(input)} → ${JSON.stringify(expected)}`, () => assert.deepEqual(mask(kind, input), expected));
  }

  it("a non-string value under a text mask is fully masked, never returned in clear", () => {
    for (const kind of ["phone", "email", "name", "last4", "rrn", "ip"] as const) {
      assert.equal(mask(kind, 1012345678), FULL_MASK, kind);
      assert.equal(mask(kind, { value: "010-1234-5678" }), FULL_MASK, kind);
    }
  });

  it("absence passes through: null and undefined are not data", () => {
    assert.equal(mask("phone", null), null);
    assert.equal(mask("full", undefined), undefined);
  });

  it("the email mask hides the local part's length", () => {
    assert.equal(mask("email", "a@x.kr"), "a***@x.kr");
    assert.equal(mask("email", "abcdefghij@x.kr"), "a***@x.kr");
  });
});
