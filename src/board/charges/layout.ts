import { createHash } from 'node:crypto';
import { html, Html, Interpolation, staticHtml } from './html';

// The page frame and its one style sheet. The style sheet is inline and allowed by its hash, so the
// Content-Security-Policy can refuse every script, every other style and every outside resource.

const CSS = `
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #f6f8fa; --accent: #0b5cad;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; }
header.top { display: flex; gap: 16px; align-items: center; padding: 10px 24px; background: #24292f; color: #fff; }
header.top a { color: #fff; text-decoration: none; } header.top .title { font-weight: 600; font-size: 16px; }
header.top nav { margin-left: auto; display: flex; gap: 16px; }
main { padding: 16px 24px 40px; max-width: 1400px; }
h1 { font-size: 20px; margin: 8px 0 4px; } h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; font-size: 12.5px; color: var(--muted); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.nested td:first-child { padding-left: 28px; } tr.nested td { background: #fbfcfd; }
tr.deleted td { color: var(--muted); text-decoration: line-through; }
dl.facts { display: grid; grid-template-columns: max-content 1fr max-content 1fr; gap: 4px 16px; margin: 8px 0; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: var(--bg); border: 1px solid var(--line); }
.badge.applied, .badge.active, .badge.settled { color: var(--ok); border-color: #4ac26b; }
.badge.final { color: var(--accent); border-color: #54aeff; }
.badge.rejected, .badge.deleted { color: var(--bad); border-color: #ff8182; }
.badge.replayed, .badge.created, .badge.authorized { color: var(--warn); border-color: #d4a72c; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 8px 0 12px; font-weight: 600; }
.banner.deleted { background: #ffebe9; border: 1px solid #ff8182; color: #82071e; }
.banner.warn { background: #fff8c5; border: 1px solid #d4a72c; }
.muted { color: var(--muted); } .small { font-size: 12px; } .nowrap { white-space: nowrap; }
.totals { display: grid; grid-template-columns: repeat(8, minmax(0, 1fr)); border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
.totals div { padding: 6px 10px; border-right: 1px solid var(--line); } .totals div:last-child { border-right: 0; }
.totals span { display: block; color: var(--muted); font-size: 12px; } .totals b { font-variant-numeric: tabular-nums; }
details.prior { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 8px 0; }
details.prior summary { cursor: pointer; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 8px; overflow: auto; margin: 4px 0; white-space: pre-wrap; }
form.search { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 8px 0 16px; }
form.search label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
form.search input { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 6px; min-width: 220px; }
form.search button { font: inherit; padding: 5px 14px; border-radius: 6px; border: 1px solid #1f883d; background: #1f883d; color: #fff; }
.error-text { color: var(--bad); }
table.journal td.error { min-width: 240px; max-width: 360px; overflow-wrap: anywhere; }
`;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(CSS).digest('base64')}'`,
  "img-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function page(title: string, body: Interpolation): string {
  const doc = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><link rel="icon" href="/static/favicon-32x32.png"><title>${title} · flatfee-worker</title><style>${staticHtml(CSS)}</style></head>
<body><header class="top"><a class="title" href="/charges">flatfee-worker · Charge explorer</a>
<nav><a href="/charges">Find a charge</a><a href="/">Bull Board</a></nav></header>
<main>${body}</main></body></html>
`;
  return doc.text;
}

/** Link to a charge's page; namespaces are opaque text, so every path segment is encoded. */
export function chargeHref(namespace: string, id: string): string {
  return `/charges/${encodeURIComponent(namespace)}/${encodeURIComponent(id)}`;
}

/** The job's page in Bull Board (served at `/` by the same server). */
export function jobHref(queue: string, jobId: string): string {
  return `/queue/${encodeURIComponent(queue)}/${encodeURIComponent(jobId)}`;
}

export function badge(value: string): Html {
  return html`<span class="badge ${value.replace(/[^a-z_]/g, '')}">${value.replace(/_/g, ' ')}</span>`;
}

export function searchForm(values: { q?: string; namespace?: string; customer?: string }): Html {
  return html`<form class="search" method="get" action="/charges">
<label>Charge id<input name="q" value="${values.q ?? ''}" placeholder="01J… (a ULID is enough)" autofocus></label>
<label>Namespace<input name="namespace" value="${values.namespace ?? ''}" placeholder="optional with a charge id"></label>
<label>Customer<input name="customer" value="${values.customer ?? ''}" placeholder="list a customer's charges"></label>
<button type="submit">Find</button></form>`;
}
