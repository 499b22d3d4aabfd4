import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { escapeHtml, html, langOf, page, raw } from "../../src/http/ui/html.js";

describe("server-rendered HTML", () => {
  test("every interpolation is escaped unless it is already markup", () => {
    const name = `<script>alert("x")</script>&'`;
    assert.equal(html`<p title="${name}">${name}</p>`.value, `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>`);
    assert.equal(html`<ul>${["a<", "b"].map((x) => html`<li>${x}</li>`)}</ul>`.value, "<ul><li>a&lt;</li><li>b</li></ul>");
    assert.equal(html`${raw("<b>ok</b>")}${null}${undefined}${false}${0}`.value, "<b>ok</b>0");
    assert.equal(escapeHtml("a&b"), "a&amp;b");
  });

  test("the language comes from ?lang, then Accept-Language, else Korean", () => {
    assert.equal(langOf({ lang: "en" }, "ko-KR"), "en");
    assert.equal(langOf({}, "en-US,en;q=0.9"), "en");
    assert.equal(langOf({ lang: "fr" }, undefined), "ko");
  });

  test("a page declares its language and a phone viewport", () => {
    const doc = page({ lang: "en", title: "T & C", body: html`<main>x</main>`, styles: ["/ui/a.css"] });
    assert.match(doc, /^<!doctype html>\n<html lang="en">/);
    assert.match(doc, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.match(doc, /<title>T &amp; C<\/title>/);
    assert.match(doc, /<link rel="stylesheet" href="\/ui\/a.css">/);
  });
});
