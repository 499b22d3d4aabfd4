/** ProvisionStore contract: every store kind must pass all of it. */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { it } from "node:test";
import { asSubjectId, type SubjectId } from "../../src/core/ids.js";
import type {
  ImportItem,
  ProvisionPartRow,
  ProvisionRow,
  ScheduleRow,
  StoredField,
  SuspensionRow,
} from "../../src/core/ports.js";
import { at, bytes, consentEvent, forEachStore, newId, rejectsWith, subjectRow, T0 } from "./store-fixture.js";

const tag = () => randomBytes(6).toString("hex");
const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const sorted = <T extends string>(ids: readonly T[]) => [...ids].sort(bytewise);

const provisionRow = (over: Partial<ProvisionRow> = {}): ProvisionRow => ({
  id: `prv_${tag()}`,
  scheduleId: null,
  principal: "crm",
  recipient: `rcp_${tag()}`,
  country: "KR",
  purpose: "marketing",
  label: "provision",
  classification: "provision",
  basis: "consent:nsf_provision",
  transferBasis: null,
  fields: ["email", "name"],
  format: "ndjson",
  request: JSON.stringify({ recipient: "x", fields: ["email", "name"] }),
  status: "running",
  reasons: [],
  counts: { scanned: 0, included: 0, excluded: {} },
  diff: null,
  manifest: null,
  cursor: null,
  parts: 0,
  createdAt: T0,
  updatedAt: T0,
  finishedAt: null,
  ...over,
});

/** A part over `subjects` (sorted bytewise, as a run commits them). */
const partOf = (provisionId: string, part: number, subjects: readonly SubjectId[], when = at(part * 1000)): ProvisionPartRow => ({
  provisionId,
  part,
  file: `part-${String(part).padStart(5, "0")}.ndjson.enc`,
  subjects: subjects.length,
  bytes: 1234 * subjects.length + 5_000_000_000,
  sha256: randomBytes(32).toString("hex"),
  ledgerDigest: randomBytes(32).toString("hex"),
  lastSubject: sorted(subjects)[subjects.length - 1] ?? asSubjectId(""),
  at: when,
});

const ids = (n: number) => sorted(Array.from({ length: n }, () => newId()));
const field = (name: string, updatedAt = T0): StoredField => ({ field: name, ciphertext: bytes(40), updatedAt });

forEachStore("ProvisionStore provisions", (fx) => {
  it("inserts, reads and patches a provision, with exact dates and JSON columns", async () => {
    const { provisions } = fx().stores.data;
    const row = provisionRow({
      transferBasis: "A:consent:nsf_overseas",
      country: "US",
      scheduleId: `sch_${tag()}`,
      counts: { scanned: 10, included: 7, excluded: { NO_CONSENT: 2, SUSPENDED: 1 } },
      createdAt: at(1),
      updatedAt: at(2),
    });
    await provisions.insertProvision(row);
    assert.deepEqual(await provisions.getProvision(row.id), row);
    assert.equal(await provisions.getProvision(`prv_${tag()}`), undefined);
    await rejectsWith(() => provisions.insertProvision({ ...row, recipient: "other" }), "CONFLICT");

    const diff = { previousId: `prv_${tag()}`, added: 3, removed: 1, kept: 6 };
    await provisions.updateProvision(row.id, {
      status: "completed",
      reasons: ["CAP_REACHED"],
      counts: { scanned: 11, included: 8, excluded: { NO_CONSENT: 3 } },
      diff,
      manifest: '{"signed":true}',
      updatedAt: at(3),
      finishedAt: at(4),
      classification: "consignment",
      basis: "consignment:CT-2024-001",
      transferBasis: null,
    });
    const patched = {
      ...row,
      status: "completed" as const,
      reasons: ["CAP_REACHED"],
      counts: { scanned: 11, included: 8, excluded: { NO_CONSENT: 3 } },
      diff,
      manifest: '{"signed":true}',
      updatedAt: at(3),
      finishedAt: at(4),
      classification: "consignment" as const,
      basis: "consignment:CT-2024-001",
      transferBasis: null,
    };
    assert.deepEqual(await provisions.getProvision(row.id), patched);
    await provisions.updateProvision(row.id, { diff: null, finishedAt: null });
    assert.deepEqual(await provisions.getProvision(row.id), { ...patched, diff: null, finishedAt: null });
    await provisions.updateProvision(row.id, {});
    await rejectsWith(() => provisions.updateProvision(`prv_${tag()}`, { status: "failed" }), "NOT_FOUND");
    await rejectsWith(() => provisions.updateProvision(`prv_${tag()}`, {}), "NOT_FOUND");
  });

  it("lists newest first, filtered by recipient, principal or schedule, up to the limit", async () => {
    const { provisions } = fx().stores.data;
    const recipient = `rcp_${tag()}`;
    const principal = `crm_${tag()}`;
    const scheduleId = `sch_${tag()}`;
    const rows = [
      provisionRow({ recipient, principal, createdAt: at(10) }),
      provisionRow({ recipient, principal: "other", scheduleId, createdAt: at(30) }),
      provisionRow({ recipient, principal, scheduleId, createdAt: at(20) }),
      provisionRow({ principal, createdAt: at(40) }),
    ];
    for (const row of rows) await provisions.insertProvision(row);
    const idsOf = (list: ProvisionRow[]) => list.map((p) => p.id);
    assert.deepEqual(idsOf(await provisions.listProvisions({ recipient, limit: 10 })), [rows[1]!.id, rows[2]!.id, rows[0]!.id]);
    assert.deepEqual(idsOf(await provisions.listProvisions({ recipient, limit: 2 })), [rows[1]!.id, rows[2]!.id]);
    assert.deepEqual(idsOf(await provisions.listProvisions({ principal, limit: 10 })), [rows[3]!.id, rows[2]!.id, rows[0]!.id]);
    assert.deepEqual(idsOf(await provisions.listProvisions({ scheduleId, limit: 10 })), [rows[1]!.id, rows[2]!.id]);
    assert.deepEqual(idsOf(await provisions.listProvisions({ recipient, principal, limit: 10 })), [rows[2]!.id, rows[0]!.id]);
    assert.deepEqual(await provisions.listProvisions({ recipient, limit: 10 }).then((l) => l[0]), rows[1]);
    const all = await provisions.listProvisions({ limit: 1000 });
    const times = all.map((p) => p.createdAt.getTime());
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
  });

  it("refuses provision writes inside a data transaction body", async () => {
    const { data } = fx().stores;
    const row = provisionRow();
    await rejectsWith(() => data.transaction(async () => data.provisions.insertProvision(row)), "INTERNAL");
    assert.equal(await data.provisions.getProvision(row.id), undefined);
  });
});

forEachStore("ProvisionStore parts and ledger", (fx) => {
  it("commits a part with its ledger entries and moves the cursor", async () => {
    const { provisions } = fx().stores.data;
    const row = provisionRow();
    await provisions.insertProvision(row);
    const first = ids(7);
    const second = ids(5);
    const p1 = partOf(row.id, 1, first);
    await provisions.commitPart(p1, [...first].reverse());
    assert.deepEqual(await provisions.getProvision(row.id), { ...row, cursor: p1.lastSubject, parts: 1, updatedAt: p1.at });
    const p2 = partOf(row.id, 2, second);
    await provisions.commitPart(p2, second);
    assert.deepEqual(await provisions.getProvision(row.id), { ...row, cursor: p2.lastSubject, parts: 2, updatedAt: p2.at });

    assert.deepEqual(await provisions.partsOf(row.id), [p1, p2]);
    assert.deepEqual(await provisions.partsOf(`prv_${tag()}`), []);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 1), first);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 2), second);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 3), []);
  });

  it("commits a large part in one call", async () => {
    const { provisions } = fx().stores.data;
    const row = provisionRow();
    await provisions.insertProvision(row);
    const subjects = ids(5000);
    await provisions.commitPart(partOf(row.id, 1, subjects), subjects);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 1), subjects);
    const diff = await provisions.populationDiff(row.id, row.id);
    assert.deepEqual(diff, { previousId: row.id, added: 0, removed: 0, kept: 5000 });
  });

  it("refuses a part or ledger entry that already exists and writes nothing of it", async () => {
    const { provisions } = fx().stores.data;
    const row = provisionRow();
    await provisions.insertProvision(row);
    const first = ids(4);
    const p1 = partOf(row.id, 1, first);
    await provisions.commitPart(p1, first);
    const afterFirst = await provisions.getProvision(row.id);

    // The same part number again, with fresh subjects.
    const fresh = ids(3);
    const err = await rejectsWith(() => provisions.commitPart(partOf(row.id, 1, fresh), fresh), "CONFLICT");
    assert.doesNotMatch(err.message, /insert|provision_|constraint/i);
    // A new part holding a subject the provision already has.
    const overlapping = sorted([...fresh, first[2]!]);
    await rejectsWith(() => provisions.commitPart(partOf(row.id, 2, overlapping), overlapping), "CONFLICT");
    // A new part naming one subject twice.
    await rejectsWith(() => provisions.commitPart(partOf(row.id, 2, fresh), [...fresh, fresh[0]!]), "CONFLICT");

    assert.deepEqual(await provisions.partsOf(row.id), [p1]);
    assert.deepEqual(await provisions.getProvision(row.id), afterFirst);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 1), first);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 2), []);
    for (const id of fresh) assert.deepEqual(await provisions.ledgerBySubject(id), []);
    assert.deepEqual(await provisions.populationDiff(row.id, row.id), { previousId: row.id, added: 0, removed: 0, kept: 4 });

    // The failures left nothing behind: the same part commits cleanly now.
    const p2 = partOf(row.id, 2, fresh);
    await provisions.commitPart(p2, fresh);
    assert.deepEqual(await provisions.subjectsOfPart(row.id, 2), fresh);
    assert.equal((await provisions.getProvision(row.id))?.parts, 2);
  });

  it("refuses a part of an unknown provision", async () => {
    const { provisions } = fx().stores.data;
    const missing = `prv_${tag()}`;
    const subjects = ids(2);
    await rejectsWith(() => provisions.commitPart(partOf(missing, 1, subjects), subjects), "NOT_FOUND");
    assert.deepEqual(await provisions.partsOf(missing), []);
    for (const id of subjects) assert.deepEqual(await provisions.ledgerBySubject(id), []);
  });

  it("counts the population difference between two runs in SQL", async () => {
    const { provisions } = fx().stores.data;
    const prev = provisionRow();
    const cur = provisionRow({ recipient: prev.recipient });
    await provisions.insertProvision(prev);
    await provisions.insertProvision(cur);
    const s = ids(8);
    const prevSubjects = s.slice(0, 5);
    const curSubjects = s.slice(2);
    await provisions.commitPart(partOf(prev.id, 1, prevSubjects.slice(0, 2)), prevSubjects.slice(0, 2));
    await provisions.commitPart(partOf(prev.id, 2, prevSubjects.slice(2)), prevSubjects.slice(2));
    await provisions.commitPart(partOf(cur.id, 1, curSubjects), curSubjects);
    assert.deepEqual(await provisions.populationDiff(prev.id, cur.id), { previousId: prev.id, added: 3, removed: 2, kept: 3 });
    assert.deepEqual(await provisions.populationDiff(cur.id, prev.id), { previousId: cur.id, added: 2, removed: 3, kept: 3 });
    const none = `prv_${tag()}`;
    assert.deepEqual(await provisions.populationDiff(none, cur.id), { previousId: none, added: 6, removed: 0, kept: 0 });
  });

  it("shows a subject's ledger oldest first, joined with each provision's current facts", async () => {
    const { provisions } = fx().stores.data;
    const x = newId();
    const older = provisionRow({ fields: ["email"], basis: "consignment:CT-1", label: "consignment", classification: "consignment" });
    const newer = provisionRow({
      country: "JP",
      purpose: "research",
      fields: ["email", "phone"],
      transferBasis: "E:jp_2024",
    });
    await provisions.insertProvision(newer);
    await provisions.insertProvision(older);
    const others = ids(3);
    const olderSubjects = sorted([x, ...others]);
    await provisions.commitPart(partOf(older.id, 1, olderSubjects, at(100)), olderSubjects);
    await provisions.commitPart(partOf(newer.id, 1, others, at(150)), others);
    await provisions.commitPart(partOf(newer.id, 2, [x], at(200)), [x]);
    await provisions.updateProvision(older.id, { status: "completed", finishedAt: at(120) });

    assert.deepEqual(await provisions.ledgerBySubject(x), [
      {
        provisionId: older.id,
        subjectId: x,
        part: 1,
        recipient: older.recipient,
        country: "KR",
        purpose: "marketing",
        fields: ["email"],
        basis: "consignment:CT-1",
        transferBasis: null,
        status: "completed",
        at: at(100),
      },
      {
        provisionId: newer.id,
        subjectId: x,
        part: 2,
        recipient: newer.recipient,
        country: "JP",
        purpose: "research",
        fields: ["email", "phone"],
        basis: "consent:nsf_provision",
        transferBasis: "E:jp_2024",
        status: "running",
        at: at(200),
      },
    ]);
    assert.deepEqual(await provisions.ledgerBySubject(newId()), []);
  });

  it("pages a recipient's ledger by (provision, subject) and leaves other recipients out", async () => {
    const { provisions } = fx().stores.data;
    const recipient = `rcp_${tag()}`;
    const a = provisionRow({ recipient, fields: ["name"] });
    const b = provisionRow({ recipient, status: "stopped" });
    const elsewhere = provisionRow();
    for (const row of [a, b, elsewhere]) await provisions.insertProvision(row);
    const sa = ids(5);
    const sb = ids(4);
    await provisions.commitPart(partOf(a.id, 1, sa.slice(0, 3), at(10)), sa.slice(0, 3));
    await provisions.commitPart(partOf(a.id, 2, sa.slice(3), at(20)), sa.slice(3));
    await provisions.commitPart(partOf(b.id, 1, sb, at(30)), sb);
    await provisions.commitPart(partOf(elsewhere.id, 1, sa, at(40)), sa);

    const seen: Awaited<ReturnType<typeof provisions.ledgerByRecipient>> = [];
    let after: { provisionId: string; subjectId: SubjectId } | null = null;
    for (;;) {
      const page = await provisions.ledgerByRecipient(recipient, after, 2);
      assert.ok(page.length <= 2);
      if (page.length === 0) break;
      seen.push(...page);
      const last = page[page.length - 1]!;
      after = { provisionId: last.provisionId, subjectId: last.subjectId };
    }
    const expected = [
      ...sa.map((s, i) => ({ provisionId: a.id, subjectId: s, part: i < 3 ? 1 : 2 })),
      ...sb.map((s) => ({ provisionId: b.id, subjectId: s, part: 1 })),
    ].sort((p, q) => bytewise(p.provisionId, q.provisionId) || bytewise(p.subjectId, q.subjectId));
    assert.deepEqual(
      seen.map((e) => ({ provisionId: e.provisionId, subjectId: e.subjectId, part: e.part })),
      expected,
    );
    assert.ok(seen.every((e) => e.recipient === recipient));
    const fromA = seen.find((e) => e.provisionId === a.id && e.part === 2)!;
    assert.deepEqual(fromA.fields, ["name"]);
    assert.equal(fromA.status, "running");
    assert.deepEqual(fromA.at, at(20));
    const fromB = seen.find((e) => e.provisionId === b.id)!;
    assert.deepEqual(fromB.fields, ["email", "name"]);
    assert.equal(fromB.status, "stopped");
    assert.deepEqual(fromB.at, at(30));
    assert.deepEqual(await provisions.ledgerByRecipient(`rcp_${tag()}`, null, 10), []);
  });
});

forEachStore("ProvisionStore scan", (fx) => {
  it("scans active subjects in id order, page by page, with consents and the asked fields", async () => {
    const { data } = fx().stores;
    const { provisions } = data;
    const items: ImportItem[] = Array.from({ length: 23 }, (_, i) => {
      const subject = subjectRow(newId(), at(i));
      const fields = [field("email", at(i + 1))];
      if (i % 3 !== 0) fields.push(field("phone", at(i + 2)));
      if (i % 4 === 0) fields.push(field("address"));
      const consents = [];
      if (i % 2 === 0) consents.push(consentEvent(subject.id, { notice: "signup", at: at(i) }));
      if (i % 5 === 0) {
        consents.push(consentEvent(subject.id, { notice: "nsf_provision", category: "provision", at: at(i + 3) }));
        consents.push(
          consentEvent(subject.id, { notice: "nsf_provision", category: "provision", action: "withdraw", at: at(i + 4) }),
        );
      }
      return { subject, fields, lookups: [], consents };
    });
    await data.importBatch(items);
    const erased = new Set([items[4]!.subject.id, items[5]!.subject.id, items[17]!.subject.id]);
    await data.transaction(async (tx) => {
      for (const id of erased) await tx.setSubjectStatus(id, "erased", at(99));
    });
    const ours = new Set(items.map((i) => i.subject.id as string));
    const expected = sorted(items.map((i) => i.subject.id).filter((id) => !erased.has(id)));

    const scan = async (limit: number, fields: readonly string[]) => {
      const rows = [];
      let after: SubjectId | null = null;
      for (;;) {
        const page = await provisions.scanSubjects(after, limit, fields);
        assert.ok(page.length <= limit);
        if (page.length === 0) break;
        rows.push(...page);
        after = page[page.length - 1]!.id;
      }
      return rows;
    };

    const rows = await scan(4, ["phone", "email", "nope", "email"]);
    const all = rows.map((r) => r.id as string);
    assert.deepEqual(all, sorted(all), "id order");
    assert.equal(new Set(all).size, all.length, "no subject twice");
    const mine = rows.filter((r) => ours.has(r.id));
    assert.deepEqual(
      mine.map((r) => r.id),
      expected,
    );
    for (const row of mine) {
      const item = items.find((i) => i.subject.id === row.id)!;
      const want = item.fields.filter((f) => f.field === "email" || f.field === "phone").sort((a, b) => bytewise(a.field, b.field));
      assert.deepEqual(row.fields, want);
      assert.deepEqual(row.consents, await data.currentConsents(row.id));
    }
    const withdrawn = mine.find((r) => r.id === items[10]!.subject.id)!;
    assert.deepEqual(
      withdrawn.consents.map((c) => [c.notice, c.status]),
      [
        ["nsf_provision", "withdrawn"],
        ["signup", "granted"],
      ],
    );

    const bare = await scan(50, []);
    const bareMine = bare.filter((r) => ours.has(r.id));
    assert.deepEqual(
      bareMine.map((r) => r.id),
      expected,
    );
    assert.ok(bareMine.every((r) => r.fields.length === 0));
    assert.ok(bareMine.some((r) => r.consents.length > 0));

    const last = sorted(all)[all.length - 1]!;
    assert.deepEqual(await provisions.scanSubjects(asSubjectId(last), 10, ["email"]), []);
    const one = await provisions.scanSubjects(null, 1, ["address"]);
    assert.equal(one.length, 1);
    assert.equal(one[0]!.id, all[0]);
  });
});

forEachStore("ProvisionStore suspensions and schedules", (fx) => {
  it("records suspensions and lifts each one once", async () => {
    const { provisions } = fx().stores.data;
    const suspension = (over: Partial<SuspensionRow>): SuspensionRow => ({
      id: `sus_${tag()}`,
      scope: "recipient",
      target: `rcp_${tag()}`,
      order: "PIPC-2025-0042",
      reason: "Art. 28-9 order",
      at: T0,
      by: "dpo",
      liftedAt: null,
      liftedBy: null,
      ...over,
    });
    const a = suspension({ at: at(20) });
    const b = suspension({ scope: "country", target: "XX", at: at(10) });
    await provisions.putSuspension(a);
    await provisions.putSuspension(b);
    await rejectsWith(() => provisions.putSuspension({ ...a, reason: "again" }), "CONFLICT");
    const active = await provisions.activeSuspensions();
    assert.deepEqual(
      active.filter((s) => s.id === a.id || s.id === b.id),
      [b, a],
    );

    assert.equal(await provisions.liftSuspension(a.id, at(30), "dpo2"), true);
    assert.equal(await provisions.liftSuspension(a.id, at(40), "dpo3"), false, "already lifted");
    assert.equal(await provisions.liftSuspension(`sus_${tag()}`, at(40), "dpo3"), false, "unknown");
    assert.ok(!(await provisions.activeSuspensions()).some((s) => s.id === a.id));
    assert.ok((await provisions.activeSuspensions()).some((s) => s.id === b.id));
    const listed = await provisions.listSuspensions();
    assert.deepEqual(
      listed.find((s) => s.id === a.id),
      { ...a, liftedAt: at(30), liftedBy: "dpo2" },
    );
    const times = listed.map((s) => s.at.getTime());
    assert.deepEqual(times, [...times].sort((x, y) => x - y));
  });

  it("stores schedules and finds the due ones, oldest first", async () => {
    const { provisions } = fx().stores.data;
    const schedule = (over: Partial<ScheduleRow>): ScheduleRow => ({
      id: `sch_${tag()}`,
      principal: "crm",
      request: JSON.stringify({ recipient: "r" }),
      every: "P1D",
      nextAt: T0,
      lastProvisionId: null,
      active: true,
      createdAt: T0,
      ...over,
    });
    const now = at(1_000_000);
    const late = schedule({ nextAt: at(500_000), createdAt: at(1) });
    const later = schedule({ nextAt: at(-5), createdAt: at(2) });
    const exact = schedule({ nextAt: now, createdAt: at(3) });
    const future = schedule({ nextAt: at(1_000_001), createdAt: at(4) });
    const off = schedule({ nextAt: at(0), active: false, createdAt: at(5) });
    for (const s of [late, later, exact, future, off]) await provisions.putSchedule(s);

    assert.deepEqual(await provisions.getSchedule(late.id), late);
    assert.equal(await provisions.getSchedule(`sch_${tag()}`), undefined);
    const ours = new Set([late, later, exact, future, off].map((s) => s.id));
    const due = (await provisions.dueSchedules(now)).filter((s) => ours.has(s.id));
    assert.deepEqual(due, [later, late, exact]);

    const lastProvisionId = `prv_${tag()}`;
    await provisions.updateSchedule(later.id, { nextAt: at(2_000_000), lastProvisionId });
    await provisions.updateSchedule(off.id, { active: true });
    await provisions.updateSchedule(exact.id, { active: false });
    await provisions.updateSchedule(late.id, {});
    await rejectsWith(() => provisions.updateSchedule(`sch_${tag()}`, { active: false }), "NOT_FOUND");
    assert.deepEqual(await provisions.getSchedule(later.id), { ...later, nextAt: at(2_000_000), lastProvisionId });
    assert.deepEqual(
      (await provisions.dueSchedules(now)).filter((s) => ours.has(s.id)).map((s) => s.id),
      [off.id, late.id],
    );

    // A put replaces the schedule.
    const replaced = { ...future, every: "P7D", request: "{}", nextAt: at(7) };
    await provisions.putSchedule(replaced);
    assert.deepEqual(await provisions.getSchedule(future.id), replaced);
    const listed = (await provisions.listSchedules()).filter((s) => ours.has(s.id));
    assert.deepEqual(
      listed.map((s) => s.id),
      [late.id, later.id, exact.id, future.id, off.id],
    );
  });
});
