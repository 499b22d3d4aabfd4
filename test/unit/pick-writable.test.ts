/**
 * Which of the hosts in a multi-host HAECHI_PG_URL the pool binds to (issue 7; ADR 0016): of the
 * nodes that accept writes, the one on the newest timeline; none while two on one timeline say so.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { pickWritable } from "../../src/storage/postgres/pg-pool.js";

test("the one node that accepts writes", () => {
  assert.equal(pickWritable([{ url: "a", timeline: null }, { url: "b", timeline: 3 }, { url: "c", timeline: null }]), "b");
});

test("no node accepts writes (failover under way): none", () => {
  assert.equal(pickWritable([{ url: "a", timeline: null }, { url: "b", timeline: null }]), null);
});

test("seed 004: a partition heals and the old primary, not yet demoted, still accepts writes: the promoted node on the newer timeline wins", () => {
  assert.equal(pickWritable([{ url: "old", timeline: 1 }, { url: "standby", timeline: null }, { url: "promoted", timeline: 2 }]), "promoted");
});

test("two nodes accept writes on one timeline: none, until the HA manager settles it (fail closed)", () => {
  assert.equal(pickWritable([{ url: "a", timeline: 2 }, { url: "b", timeline: 2 }]), null);
});
