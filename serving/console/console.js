// Linli ops console: plain JS over the service's JSON endpoints (same origin, no build step).
"use strict";

const I18N = {
  zh: {
    title: "运营台", tab_member: "会员", tab_group: "社群", tab_audience: "人群圈选",
    token_ph: "访问令牌（如已配置）", token_save: "保存", token_saved: "令牌已保存（仅本标签页）",
    search: "查询", member_ph: "手机号、企业微信、openid、会员卡号或用户 ID",
    member_hint: "手机号可带空格、横线或 +86；也可输入 phone:、wecom:、openid: 等前缀。",
    group_ph: "社群 ID，例如 G00001", plan_title: "直播方案", theme_name: "主题名称",
    theme_keywords: "关键词", theme_categories: "品类", comma_ph: "用逗号分隔",
    theme_apply: "按此主题重新生成", query_ph: "标签表达式，例如 interest:fitness AND NOT allergy:mango",
    query_run: "圈选", query_hint: "支持 AND / OR / NOT 与括号；prefers:* 匹配前缀；segment:ID 表示分群。示例：",
    unified_id: "统一用户 ID", identifiers: "其他身份", tier: "价值等级", segment: "分群",
    groups: "所在社群", rfm: "RFM 指标", recency_days: "距上次购买（天）", frequency: "订单数",
    monetary: "累计消费（元）", aov: "客单价（元）", orders_per_30d: "每 30 天订单",
    rfm_score: "RFM 总分（3–15）", first_seen: "首次出现", last_seen: "最近出现",
    tags: "标签", src_rule: "规则", src_manual: "团长备注", src_live: "新备注（实时）",
    constraints: "忌口 / 硬约束", none: "无", forbidden_items: "不推荐的商品数",
    forbidden_examples: "例如", activity: "互动", messages: "群消息", comments: "评论",
    shares: "分享", live_views: "看直播", jielong: "接龙", orders: "购买行", early_jielong: "抢先接龙",
    referred_orders: "带来订单", recs_user: "为 TA 推荐", recs_group: "群推荐商品（标出忌口冲突）",
    item: "商品", category: "品类", price: "价格", reason: "推荐理由", flag: "约束",
    conflict: (n, tags) => `⚠ ${n} 位成员忌口${tags ? "（" + tags + "）" : ""}`,
    constraints_safe: (n) => `已排除 ${n} 件 TA 不能买的商品`,
    group_card: "社群概况", name: "名称", kind: "类型", leader: "团长", members: "成员数",
    tiers: "价值等级分布", top_tags: "常见标签", top_items: "热销商品", constrained: "有忌口的成员",
    segments_mix: "分群构成", plan_loading: "正在生成直播方案…", theme: "主题", plan_items: "主推商品",
    bundle: "组合套餐", bundle_price: "套餐价", lift: "提升度", host: "主播", host_reason: "匹配理由",
    audience: "邀约人群", in_group: "本群", invitee: "群外", score: "得分", reasons: "理由",
    download_csv: "导出 CSV", kocs: "KOC（优先通知）", funnel: "预测漏斗", invited: "邀约",
    viewers: "观看", jielong_orders: "接龙", order_value: "预计成交（元）", no_funnel: "暂无预测（历史直播太少）",
    notes: "说明", count: (n) => `共 ${n} 人`, prev: "上一页", next: "下一页",
    page: (a, b, n) => `第 ${a}–${b} 人，共 ${n} 人`, user: "用户",
    unknown_terms: (t) => `没有人带这些标签：${t}（拼写？）`, segments_pick: "按分群（可多选）：",
    no_segments: "当前数据包没有分群表", unauthorized: "需要访问令牌：请在右上角填写后保存",
    empty: "没有结果", downloaded: "已下载", show_all: (n) => `显示全部 ${n} 人`, kind_general: "普通群", kind_interest: "兴趣群", kind_value: "高价值群",
  },
  en: {
    title: "Ops console", tab_member: "Members", tab_group: "Groups", tab_audience: "Audience",
    token_ph: "Access token (if configured)", token_save: "Save", token_saved: "Token saved (this tab only)",
    search: "Search", member_ph: "Phone, WeCom, openid, member card or user id",
    member_hint: "Phones may have spaces, dashes or +86; prefixes phone:, wecom:, openid: work too.",
    group_ph: "Group id, e.g. G00001", plan_title: "Live-stream plan", theme_name: "Theme name",
    theme_keywords: "Keywords", theme_categories: "Categories", comma_ph: "comma-separated",
    theme_apply: "Re-plan with this theme", query_ph: "Tag expression, e.g. interest:fitness AND NOT allergy:mango",
    query_run: "Select", query_hint: "AND / OR / NOT and parentheses; prefers:* matches a prefix; segment:ID a segment. Examples:",
    unified_id: "Unified user id", identifiers: "Other identifiers", tier: "Value tier", segment: "Segment",
    groups: "Groups", rfm: "RFM", recency_days: "Days since last order", frequency: "Orders",
    monetary: "Total spend (¥)", aov: "Average order (¥)", orders_per_30d: "Orders per 30 days",
    rfm_score: "RFM score (3–15)", first_seen: "First seen", last_seen: "Last seen",
    tags: "Tags", src_rule: "rule", src_manual: "leader note", src_live: "new note (live)",
    constraints: "Allergies / hard constraints", none: "none", forbidden_items: "Items never offered",
    forbidden_examples: "e.g.", activity: "Engagement", messages: "Messages", comments: "Comments",
    shares: "Shares", live_views: "Live views", jielong: "接龙 joins", orders: "Order lines", early_jielong: "Early 接龙",
    referred_orders: "Referred orders", recs_user: "Recommended for them", recs_group: "Group picks (constraint conflicts flagged)",
    item: "Item", category: "Category", price: "Price", reason: "Why", flag: "Constraints",
    conflict: (n, tags) => `⚠ ${n} member(s) must avoid${tags ? " (" + tags + ")" : ""}`,
    constraints_safe: (n) => `${n} items they must not buy are left out`,
    group_card: "Group", name: "Name", kind: "Kind", leader: "Leader", members: "Members",
    tiers: "Value tiers", top_tags: "Common tags", top_items: "Best sellers", constrained: "Members with constraints",
    segments_mix: "Segments", plan_loading: "Planning the live-stream…", theme: "Theme", plan_items: "Featured items",
    bundle: "Bundle", bundle_price: "Bundle price", lift: "Lift", host: "Host", host_reason: "Why this host",
    audience: "Audience to invite", in_group: "in group", invitee: "invitee", score: "Score", reasons: "Reasons",
    download_csv: "Download CSV", kocs: "KOCs (brief first)", funnel: "Predicted funnel", invited: "Invited",
    viewers: "Viewers", jielong_orders: "接龙 orders", order_value: "Expected sales (¥)", no_funnel: "No prediction yet (too few past lives)",
    notes: "Notes", count: (n) => `${n} people`, prev: "Previous", next: "Next",
    page: (a, b, n) => `${a}–${b} of ${n}`, user: "User",
    unknown_terms: (t) => `Nobody has these tags: ${t} (typo?)`, segments_pick: "By segment (any of):",
    no_segments: "This bundle has no segments table", unauthorized: "A token is needed: enter it top right and save",
    empty: "No results", downloaded: "Downloaded", show_all: (n) => `Show all ${n}`, kind_general: "general", kind_interest: "interest", kind_value: "high value",
  },
};
const TIERS_EN = { "钻石": "Diamond", "黄金": "Gold", "普通": "Regular" };
const $ = (sel) => document.querySelector(sel);
let lang = localStorage.getItem("linli-lang") === "en" ? "en" : "zh";
let lastRender = {};
let queryState = { body: null, offset: 0 };
const PAGE = 20;
const AUDIENCE_SHOWN = 12;

function t(key, ...args) {
  const v = I18N[lang][key] ?? I18N.zh[key] ?? key;
  return typeof v === "function" ? v(...args) : v;
}
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
function tier(v) { return v == null ? "—" : lang === "en" ? TIERS_EN[v] || v : v; }
function money(v) { return v == null ? "—" : "¥" + Number(v).toFixed(v >= 100 ? 0 : 1); }
function num(v) { return v == null ? "—" : typeof v === "number" ? (Number.isInteger(v) ? v : v.toFixed(2)) : v; }

// reasons come from the server in English; the common shapes read in Chinese too
const REASONS_ZH = [
  [/(\d+) orders via their shares/g, "分享带来 $1 单"], [/brought (\d+) buyers/g, "带来 $1 位买家"],
  [/joined 接龙 early (\d+)x/g, "抢先接龙 $1 次"], [/(\d+) joins follow theirs on average/g, "平均带动 $1 人跟团"],
  [/shared (\d+)x/g, "分享 $1 次"], [/(\d+) messages \/ comments/g, "发言 $1 条"],
  [/bought by (\d+) of (\d+) members/g, "$2 位成员中 $1 位买过"],
  [/a top pick for (\d+)/g, "$1 位成员的首选"],
  [/you bought it (\d+)x, last (\d+) days ago/g, "TA 买过 $1 次，最近一次在 $2 天前"],
  [/you bought it (\d+)x/g, "TA 买过 $1 次"],
  [/like (.+?) you bought/g, "和 TA 买过的 $1 相似"],
  [/bought (.+?) (\d+)x/g, "买过 $1 $2 次"],
  [/tagged ([\w:*-]+)/g, "标签 $1"],
  [/liked by the same people/g, "同类用户喜欢"],
  [/often bought together/g, "常被一起购买"],
  [/popular in the same category/g, "同品类热销"],
  [/popular in your group/g, "本群热销"],
  [/popular with everyone/g, "大家都在买"],
  [/picked for you \((\w+)\)/g, "为 TA 精选（$1 模型）"],
  [/popular overall/g, "全站热销"],
  [/fits the group/g, "适合本群"],
  [/(\d+) referred orders/g, "带来 $1 单"], [/(\d+) shares/g, "分享 $1 次"],
  [/(\d+) early jielong/g, "抢先接龙 $1 次"], [/(\d+) comments/g, "评论 $1 条"],
  [/(\d+) messages/g, "消息 $1 条"], [/(\d+) jielong/g, "接龙 $1 次"],
  [/(\w+) meets ([\w:]+)/g, "$1 对应 $2"],
];
function reason(s) {
  if (lang !== "zh" || !s) return s || "";
  return REASONS_ZH.reduce((acc, [re, to]) => acc.replace(re, to), s).replace(/; /g, "；");
}

function status(msg, kind) {
  const el = $("#status");
  el.hidden = !msg;
  el.className = kind || "";
  el.textContent = msg || "";
}

async function api(path, body, raw) {
  const headers = { "content-type": "application/json" };
  const token = sessionStorage.getItem("linli-token");
  if (token) headers.authorization = "Bearer " + token;
  const r = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  if (r.ok) return raw ? r : r.json();
  let msg = r.status === 401 ? t("unauthorized") : `HTTP ${r.status}`;
  try {
    const j = await r.json();
    if (r.status !== 401) msg = j.error || (j.detail && JSON.stringify(j.detail)) || msg;
  } catch (_) { /* not JSON */ }
  const err = new Error(msg);
  err.status = r.status;
  throw err;
}

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  status(t("downloaded") + " " + name, "info");
}

function csvText(rows) {
  const cell = (v) => { const s = String(v ?? ""); return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; };
  return "\ufeff" + rows.map((r) => r.map(cell).join(",")).join("\n") + "\n";
}

// -- rendering helpers --------------------------------------------------------------------
function kv(pairs) {
  return "<dl class='kv'>" + pairs.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join("") + "</dl>";
}
function card(title, body, cls) {
  return `<div class="card ${cls || ""}"><h3>${esc(title)}</h3>${body}</div>`;
}
function itemsTable(items, id) {
  if (!items.length) return `<p class="hint">${t("empty")}</p>`;
  const rows = items.map((it) => {
    const flag = it.conflicts ? `<span class="flag">${esc(t("conflict", it.conflicts, (it.conflict_tags || []).join(", ")))}</span>` : "";
    return `<tr><td>${esc(it.name)}<div class="reason">${esc(it.item_id)}</div></td><td>${esc(it.category || "")}</td>` +
      `<td class="num">${money(it.price)}</td><td class="reason">${esc(reason(it.reason))}</td><td>${flag}</td></tr>`;
  }).join("");
  return `<table id="${id}"><thead><tr><th>${t("item")}</th><th>${t("category")}</th><th class="num">${t("price")}</th>` +
    `<th>${t("reason")}</th><th>${t("flag")}</th></tr></thead><tbody>${rows}</tbody></table>`;
}
function groupLink(id, name) {
  return `<button class="link group-link" data-group="${esc(id)}">${esc(name || id)}</button>`;
}

// -- member -------------------------------------------------------------------------------
async function showMember(id) {
  const out = $("#member-out");
  status("");
  try {
    const p = await api("/users/profile", { user: id });
    const recs = await api("/rank/user", { user: p.user_id, k: 10 });
    lastRender.member = [p, recs];
    renderMember(p, recs);
  } catch (e) {
    out.innerHTML = "";
    status(e.message);
  }
}
function renderMember(p, recs) {
  const rfmKeys = ["recency_days", "frequency", "monetary", "aov", "orders_per_30d", "rfm_score", "first_seen", "last_seen"];
  const rfm = rfmKeys.filter((k) => k in p.rfm).map((k) => [t(k), esc(k.endsWith("seen") ? String(p.rfm[k]).slice(0, 10) : k === "monetary" || k === "aov" ? money(p.rfm[k]) : num(p.rfm[k]))]);
  const tags = p.tags.map((x) => `<span class="chip ${esc(x.source)}" title="${esc(t("src_" + x.source) + (x.detail ? " · " + x.detail : ""))}">${esc(x.tag)}</span>`).join("");
  const legend = ["rule", "manual", "live"].map((s) => `<span class="chip ${s}">${t("src_" + s)}</span>`).join("");
  const cons = p.constraints;
  const consBody = cons.tags.length
    ? cons.tags.map((x) => `<span class="chip danger">${esc(x)}</span>`).join("") +
      kv([[t("forbidden_items"), esc(cons.forbidden_items)], [t("forbidden_examples"), esc(cons.examples.join("、"))]])
    : `<p class="hint">${t("none")}</p>`;
  const act = Object.entries(p.activity).map(([k, v]) => [t(k), esc(v)]);
  $("#member-out").innerHTML = `<div class="grid" id="profile">` +
    card(t("unified_id"), `<div class="big" id="profile-user">${esc(p.user_id)}</div>` + kv([
      [t("tier"), `<b id="profile-tier">${esc(tier(p.value_tier))}</b>`],
      [t("segment"), esc(p.segment ? p.segment.name : "—")],
      [t("groups"), p.groups.map((g) => groupLink(g.id, g.name)).join(" ") || "—"],
      [t("identifiers"), p.identifiers.map(esc).join("<br>") || "—"],
    ])) +
    card(t("rfm"), kv(rfm)) +
    card(t("tags"), `<div id="profile-tags">${tags}</div><p class="hint">${legend}</p>`) +
    card(t("constraints"), `<div id="profile-constraints">${consBody}</div>`) +
    (act.length ? card(t("activity"), kv(act)) : "") +
    card(t("recs_user"), (cons.forbidden_items ? `<p class="hint">${esc(t("constraints_safe", cons.forbidden_items))}</p>` : "") + itemsTable(recs.items, "user-items"), "wide") +
    "</div>";
}

// -- group and live plan -------------------------------------------------------------------
async function showGroup(id) {
  status("");
  $("#plan-box").hidden = true;
  try {
    const g = await api("/groups/profile", { group_id: id });
    const r = await api("/rank/group", { group_id: id, k: 10, constraint_mode: "flag" });
    lastRender.group = [g, r];
    renderGroup(g, r);
    await showPlan(id, null);
  } catch (e) {
    $("#group-out").innerHTML = "";
    status(e.message);
  }
}
function renderGroup(g, r) {
  const kind = g.kind ? t("kind_" + g.kind) : "—";
  $("#group-out").innerHTML = `<div class="grid" id="group-profile">` +
    card(t("group_card"), `<div class="big">${esc(g.name || g.group_id)}</div>` + kv([
      ["ID", esc(g.group_id)], [t("kind"), esc(kind)], [t("leader"), esc(g.leader || "—")],
      [t("members"), `<b id="group-members">${esc(g.members)}</b>`], [t("constrained"), esc(g.constrained_members)],
    ])) +
    card(t("tiers"), kv(Object.entries(g.value_tiers).map(([k, v]) => [tier(k), esc(v)]))) +
    card(t("segments_mix"), kv(g.segments.map((s) => [s.name, esc(s.members)])) || t("none")) +
    card(t("top_tags"), g.top_tags.map((x) => `<span class="chip">${esc(x.tag)} · ${esc(x.members)}</span>`).join("")) +
    card(t("top_items"), kv(g.top_items.map((x) => [x.name, esc(x.purchases)]))) +
    card(t("recs_group"), itemsTable(r.items, "group-items"), "wide") + "</div>";
}
function splitList(s) { return s.split(/[,，、;；]/).map((x) => x.trim()).filter(Boolean); }

async function showPlan(groupId, theme) {
  const box = $("#plan-box");
  box.hidden = false;
  box.dataset.group = groupId;
  $("#plan-out").innerHTML = `<p class="hint">${t("plan_loading")}</p>`;
  const body = { group_id: groupId, k: 8, audience_n: 60, koc_n: 5 };
  if (theme) body.theme = theme;
  try {
    const plan = await api("/live/plan", body);
    lastRender.plan = plan;
    renderPlan(plan);
  } catch (e) {
    $("#plan-out").innerHTML = "";
    status(e.message);
  }
}
function renderPlan(p, showAll) {
  $("#theme-name").value = p.theme.name || "";
  $("#theme-keywords").value = (p.theme.keywords || []).join(", ");
  $("#theme-categories").value = (p.theme.categories || []).join(", ");
  const b = p.bundle;
  const bundle = b
    ? kv([[t("bundle"), esc(b.items.map((x) => x.name).join(" + "))], [t("bundle_price"), money(b.price)], [t("lift"), esc(num(b.lift))]])
    : `<p class="hint">${esc(p.bundle_note || t("none"))}</p>`;
  const h = p.host;
  const host = h ? `<div class="big">${esc(h.name)}</div>` + kv([[t("tags"), esc(h.tags)], [t("host_reason"), esc(reason(h.reasons))]]) : `<p class="hint">${t("none")}</p>`;
  const shown = showAll ? p.audience : p.audience.slice(0, AUDIENCE_SHOWN);
  const aud = shown.map((a) => `<tr><td>${esc(a.user_id)}</td><td>${a.in_group ? t("in_group") : t("invitee")}</td>` +
    `<td class="num">${num(a.score)}</td><td class="reason">${esc(reason(a.reasons))}</td></tr>`).join("");
  const kocs = p.kocs.map((k) => `<tr><td>${esc(k.user_id)}</td><td class="reason">${esc(reason(k.reason || k.reasons))}</td></tr>`).join("");
  const f = p.funnel;
  const band = (o) => (o == null ? "—" : o.low != null ? `${num(o.predicted)} (${num(o.low)}–${num(o.high)})` : num(o.predicted));
  const funnel = f
    ? `<div class="funnel" id="plan-funnel">` + [[t("invited"), f.invited], [t("viewers"), band(f.viewers)],
      [t("jielong_orders"), band(f.jielong_orders)], [t("order_value"), money(f.expected_order_value_yuan)]].map(([k, v]) => `<div class="step">${esc(k)}<b>${esc(v)}</b></div>`).join("") + "</div>"
    : `<p class="hint" id="plan-funnel">${t("no_funnel")}</p>`;
  $("#plan-out").innerHTML = `<div class="grid" id="plan">` +
    card(t("theme"), `<div class="big" id="plan-theme">${esc(p.theme.name)}</div>`) +
    card(t("bundle"), bundle) + card(t("host"), host) +
    card(t("funnel"), funnel, "wide") +
    card(t("plan_items"), itemsTable(p.items, "plan-items"), "wide") +
    card(t("audience") + " · " + t("count", p.audience.length),
      `<div class="row-actions"><button id="plan-csv" class="primary">${t("download_csv")}</button>` +
      (p.audience.length > shown.length ? `<button id="plan-all">${esc(t("show_all", p.audience.length))}</button>` : "") + "</div>" +
      `<table id="plan-audience"><thead><tr><th>${t("user")}</th><th></th><th class="num">${t("score")}</th><th>${t("reasons")}</th></tr></thead><tbody>${aud}</tbody></table>`, "wide") +
    card(t("kocs"), `<table id="plan-kocs"><tbody>${kocs}</tbody></table>`, "wide") +
    card(t("notes"), `<ul class="notes">${p.notes.map((n) => `<li>${esc(n)}</li>`).join("")}</ul>`, "wide") + "</div>";
}

// -- audience builder ----------------------------------------------------------------------
async function loadSegments() {
  try {
    const s = await api("/segments", {});
    const box = $("#segment-box");
    if (!s.available) { box.innerHTML = `<p class="hint">${t("no_segments")}</p>`; return; }
    box.innerHTML = `<p class="hint">${t("segments_pick")} ` + s.segments.map((x) =>
      `<label class="chip"><input type="checkbox" class="seg" value="${esc(x.segment_id)}"> ${esc(x.name)} (${esc(x.size)})</label>`).join("") + "</p>";
  } catch (e) { status(e.message); }
}
function queryBody() {
  const body = {};
  const expr = $("#query-expr").value.trim();
  if (expr) body.expression = expr;
  const segs = [...document.querySelectorAll(".seg:checked")].map((x) => x.value);
  if (segs.length) body.segments = segs;
  return body;
}
async function runQuery(offset) {
  status("");
  const body = queryState.body;
  try {
    const r = await api("/users/query", { ...body, limit: PAGE, offset });
    queryState.offset = offset;
    lastRender.query = r;
    renderQuery(r);
  } catch (e) {
    $("#query-out").innerHTML = "";
    status(e.message);
  }
}
function renderQuery(r) {
  const rows = r.users.map((u) => `<tr><td><button class="link user-link" data-user="${esc(u.user_id)}">${esc(u.user_id)}</button></td>` +
    `<td>${esc(tier(u.value_tier))}</td><td class="num">${num(u.frequency)}</td><td class="num">${money(u.monetary)}</td><td>${esc(u.segment || "")}</td></tr>`).join("");
  const end = Math.min(r.offset + r.users.length, r.count);
  $("#query-out").innerHTML = `<div class="card">` +
    `<div class="big" id="query-count">${esc(t("count", r.count))}</div>` +
    (r.unknown_terms.length ? `<p class="flag">${esc(t("unknown_terms", r.unknown_terms.join(", ")))}</p>` : "") +
    `<div class="row-actions"><button id="query-prev" ${r.offset ? "" : "disabled"}>${t("prev")}</button>` +
    `<span>${r.count ? esc(t("page", r.offset + 1, end, r.count)) : t("empty")}</span>` +
    `<button id="query-next" ${end < r.count ? "" : "disabled"}>${t("next")}</button>` +
    `<button id="query-csv" class="primary" ${r.count ? "" : "disabled"}>${t("download_csv")}</button></div>` +
    `<table id="query-users"><thead><tr><th>${t("user")}</th><th>${t("tier")}</th><th class="num">${t("frequency")}</th>` +
    `<th class="num">${t("monetary")}</th><th>${t("segment")}</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

// -- wiring -------------------------------------------------------------------------------
function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.querySelectorAll("[data-i18n-ph]").forEach((el) => { el.placeholder = t(el.dataset.i18nPh); });
  $("#lang").textContent = lang === "zh" ? "EN" : "中文";
  document.title = (lang === "zh" ? "邻里运营台" : "Linli ops console") + " · Linli";
  if (lastRender.member) renderMember(...lastRender.member);
  if (lastRender.group) renderGroup(...lastRender.group);
  if (lastRender.plan) renderPlan(lastRender.plan);
  if (lastRender.query) renderQuery(lastRender.query);
  if (document.querySelector(".seg") || $("#segment-box").innerHTML) {
    const checked = new Set([...document.querySelectorAll(".seg:checked")].map((x) => x.value));
    loadSegments().then(() => document.querySelectorAll(".seg").forEach((x) => { x.checked = checked.has(x.value); }));
  }
}
function showTab(name) {
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".pane").forEach((p) => { p.hidden = p.id !== "tab-" + name; });
  if (name === "audience" && !$("#segment-box").innerHTML) loadSegments();
  location.hash = name;
}

document.addEventListener("DOMContentLoaded", () => {
  $("#token").value = sessionStorage.getItem("linli-token") || "";
  $("#token-save").addEventListener("click", () => {
    const v = $("#token").value.trim();
    if (v) sessionStorage.setItem("linli-token", v); else sessionStorage.removeItem("linli-token");
    status(t("token_saved"), "info");
  });
  $("#lang").addEventListener("click", () => { lang = lang === "zh" ? "en" : "zh"; localStorage.setItem("linli-lang", lang); applyLang(); });
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("#member-form").addEventListener("submit", (e) => { e.preventDefault(); showMember($("#member-id").value.trim()); });
  $("#group-form").addEventListener("submit", (e) => { e.preventDefault(); showGroup($("#group-id").value.trim()); });
  $("#theme-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const theme = { name: $("#theme-name").value.trim() || null, keywords: splitList($("#theme-keywords").value), categories: splitList($("#theme-categories").value) };
    showPlan($("#plan-box").dataset.group, theme);
  });
  $("#query-form").addEventListener("submit", (e) => { e.preventDefault(); queryState.body = queryBody(); runQuery(0); });
  document.querySelectorAll(".example").forEach((b) => b.addEventListener("click", () => { $("#query-expr").value = b.textContent; }));
  document.body.addEventListener("click", async (e) => {
    const el = e.target.closest("button");
    if (!el) return;
    if (el.classList.contains("group-link")) { showTab("group"); $("#group-id").value = el.dataset.group; showGroup(el.dataset.group); }
    if (el.classList.contains("user-link")) { showTab("member"); $("#member-id").value = el.dataset.user; showMember(el.dataset.user); }
    if (el.id === "plan-all" && lastRender.plan) renderPlan(lastRender.plan, true);
    if (el.id === "query-prev") runQuery(Math.max(0, queryState.offset - PAGE));
    if (el.id === "query-next") runQuery(queryState.offset + PAGE);
    if (el.id === "query-csv") {
      try {
        const r = await api("/users/query", { ...queryState.body, format: "csv" }, true);
        download("audience.csv", await r.blob());
      } catch (err) { status(err.message); }
    }
    if (el.id === "plan-csv" && lastRender.plan) {
      const p = lastRender.plan;
      const rows = [["user_id", "in_group", "score", "reasons"], ...p.audience.map((a) => [a.user_id, a.in_group ? 1 : 0, a.score, a.reasons])];
      download(`live_plan_${p.group_id}_audience.csv`, new Blob([csvText(rows)], { type: "text/csv" }));
    }
  });
  applyLang();
  const start = (location.hash || "#member").slice(1);
  showTab(["member", "group", "audience"].includes(start) ? start : "member");
});
