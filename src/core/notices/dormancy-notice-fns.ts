/**
 * The advance notice of a dormancy action (PIPC guidance 2023-12, LAW §11.1: a service sets its
 * own dormancy policy and tells people in advance; the abolished Art. 39-6 / Decree 48-5 asked
 * for 30 days and named what to say: the action, its date, the items). Pure; Korean, then
 * English. It holds no value of the person's.
 */
import type { Catalog, Text } from "../catalog/catalog-schema.js";

export interface DormancyNoticeInput {
  /** separate: the values move to the dormant store; destroy: the account is erased. */
  action: "separate" | "destroy";
  /** inactive: an active account reaching `after`; separated: a separated one reaching `destroy_after`. */
  stage: "inactive" | "separated";
  /** When it will happen. */
  actionAt: Date;
  fields: readonly string[];
}

const ko = (t: Text): string => (typeof t === "string" ? t : t.ko);
const en = (t: Text): string => (typeof t === "string" ? t : t.en);
const day = (d: Date) => d.toISOString().slice(0, 10);

export const renderDormancyNotice = (catalog: Catalog, n: DormancyNoticeInput): { title: string; body: string } => {
  const c = catalog.controller;
  const policy = catalog.dormancy;
  const label = (f: string, lang: "ko" | "en") => {
    const d = catalog.fields[f]?.description;
    return d === undefined ? f : lang === "ko" ? ko(d) : en(d);
  };
  const items = (lang: "ko" | "en") => [...n.fields].sort().map((f) => label(f, lang)).join(", ");
  const destroy = n.action === "destroy";
  const title = `[${ko(c.name)}] ${destroy ? "장기 미이용 계정 파기 예정 안내" : "휴면 계정 전환(분리 보관) 예정 안내"} / ${en(c.name)}: your inactive account will be ${destroy ? "deleted" : "set aside"} on ${day(n.actionAt)}`;
  const why =
    n.stage === "separated"
      ? { ko: `분리 보관 후 ${policy?.destroy_after ?? ""} 동안 이용하지 않으셨으므로`, en: `because it has stayed unused for ${policy?.destroy_after ?? ""} since it was set aside` }
      : { ko: `${policy?.after ?? ""} 동안 이용하지 않으셨으므로`, en: `because it has not been used for ${policy?.after ?? ""}` };
  const body = [
    `${ko(c.name)}의 개인정보 처리방침에 따라, 귀하의 계정은 ${why.ko} ${day(n.actionAt)}에 ${destroy ? "개인정보가 파기됩니다 (법령에 따라 보존해야 하는 정보는 분리 보관 후 기간이 끝나면 파기)" : "다른 이용자의 개인정보와 분리하여 보관됩니다"}.`,
    `대상 항목: ${items("ko")}`,
    `계속 이용하시려면 그 전에 서비스를 이용(로그인)해 주십시오.${destroy ? "" : " 분리 보관 후에도 다시 이용하시면 복원됩니다."}`,
    `문의: 개인정보 보호책임자 ${c.privacy_officer.name}, ${c.privacy_officer.contact}`,
    "",
    `Under ${en(c.name)}'s privacy policy, ${why.en}, your account's personal data will be ${destroy ? "destroyed (what a law requires us to keep is stored separately and destroyed when its period ends)" : "stored separately from other users' data"} on ${day(n.actionAt)}.`,
    `Items concerned: ${items("en")}`,
    `To keep using it, sign in or use the service before then.${destroy ? "" : " If you come back after it is set aside, it is restored."}`,
    `Contact: privacy officer ${c.privacy_officer.name}, ${c.privacy_officer.contact}`,
  ].join("\n");
  return { title, body };
};
