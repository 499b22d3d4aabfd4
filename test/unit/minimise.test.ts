/** Minimisation at collection (PIPA Art. 3(1), 16(1)): keep only the precision the purpose needs. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isHaechiError } from "../../src/core/errors.js";
import { formatIpv6, minimise, parseIp } from "../../src/core/minimise.js";

describe("minimise ipv4_24_ipv6_48", () => {
  const table: [string, string][] = [
    ["203.0.113.57", "203.0.113.0"],
    ["10.0.0.255", "10.0.0.0"],
    ["0.0.0.0", "0.0.0.0"],
    ["2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"],
    ["2001:0DB8:0000:0001::1", "2001:db8::"],
    ["::1", "::"],
    ["fe80::1%eth0", "fe80::"],
    ["::ffff:203.0.113.57", "203.0.113.0"],
    ["64:ff9b::192.0.2.33", "64:ff9b::"],
  ];
  for (const [input, expected] of table) it(`${input} → ${expected}`, () => assert.equal(minimise("ipv4_24_ipv6_48", input), expected));

  const bad: unknown[] = ["256.1.1.1", "1.2.3", "010.1.1.1", "1.2.3.4.5", "2001:db8::1::2", "12345::", "1:2:3:4:5:6:7:8:9", "example.com", "", 12, null];
  for (const input of bad) {
    it(`rejects ${JSON.stringify(input)} without echoing it`, () => {
      assert.throws(
        () => minimise("ipv4_24_ipv6_48", input),
        (e: unknown) =>
          isHaechiError(e) && e.code === "VALIDATION_FAILED" && /IPv4 or IPv6/.test(e.message) && (input === "" || !e.message.includes(String(input))),
      );
    });
  }
});

describe("minimise date_only", () => {
  const table: [unknown, string][] = [
    ["1990-05-17", "1990-05-17"],
    ["2024-05-01T23:59:59+09:00", "2024-05-01"],
    ["2024-05-01T12:34:56.789Z", "2024-05-01"],
    ["2024-02-29", "2024-02-29"],
    [new Date("2024-05-01T12:00:00Z"), "2024-05-01"],
  ];
  for (const [input, expected] of table) it(`${String(input)} → ${expected}`, () => assert.equal(minimise("date_only", input), expected));
  for (const input of ["2023-02-29", "2024-13-01", "1990/05/17", "yesterday", 19900517, new Date("nope")])
    it(`rejects ${String(input)}`, () =>
      assert.throws(() => minimise("date_only", input), (e: unknown) => isHaechiError(e) && e.code === "VALIDATION_FAILED" && !e.message.includes(String(input))));
});

describe("minimise hour_only", () => {
  const table: [unknown, string][] = [
    ["2024-05-01T12:34:56Z", "2024-05-01T12:00:00Z"],
    ["2024-05-01T12:34:56.789+09:00", "2024-05-01T12:00:00+09:00"],
    ["2024-05-01T07:05+0900", "2024-05-01T07:00:00+09:00"],
    ["2024-05-01T23:59:59", "2024-05-01T23:00:00"],
    [new Date("2024-05-01T12:34:56Z"), "2024-05-01T12:00:00Z"],
  ];
  for (const [input, expected] of table) it(`${String(input)} → ${expected}`, () => assert.equal(minimise("hour_only", input), expected));
  for (const input of ["2024-05-01", "2024-05-01T24:00:00Z", "2024-05-01T12:60Z", "2024-05-01T12:00:00+25:00", "noon"])
    it(`rejects ${input}`, () =>
      assert.throws(() => minimise("hour_only", input), (e: unknown) => isHaechiError(e) && e.code === "VALIDATION_FAILED" && !e.message.includes(input)));
});

describe("IP helpers", () => {
  it("formats IPv6 per RFC 5952", () => {
    assert.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), "2001:db8::1:0:0:1");
    assert.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), "2001:db8:0:1:1:1:1:1");
    assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), "::");
  });
  it("parses both families", () => {
    assert.deepEqual(parseIp("192.0.2.1"), { version: 4, octets: [192, 0, 2, 1] });
    assert.deepEqual(parseIp("::ffff:192.0.2.1"), { version: 6, groups: [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201] });
    assert.equal(parseIp("::ffff:192.0.2"), null);
  });
});
