/**
 * The status page's stylesheet (inlined in a `<style>` whose hash the CSP allows). Colours are
 * set for both schemes so every text/background pair keeps WCAG AA contrast (4.5:1 for text,
 * 3:1 for the chart's bars); one column on a phone, two on a desktop.
 */
export const STATUS_PAGE_STYLE = `
:root{color-scheme:light dark;--fg:#1f1f1f;--bg:#fff;--bg2:#f1f3f4;--muted:#5a5f64;--line:#d4d7db;--ok:#137333;--bad:#b3261e;--c:#1a5fb4;--b:#b84300;--p:#7b2f98}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--bg:#121212;--bg2:#202124;--muted:#aeb3b9;--line:#3c4043;--ok:#81c995;--bad:#f28b82;--c:#78aeed;--b:#ffa348;--p:#dc8add}}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:76rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem;display:flex;flex-wrap:wrap;align-items:baseline;justify-content:space-between;gap:.25rem 1rem}
h1{font-size:1.5rem;margin:0}h2{font-size:1.1rem;margin:0 0 .6rem}
p{margin:0}.meta{color:var(--muted);font-size:.875rem}
.conn::before{content:"";display:inline-block;width:.6em;height:.6em;border-radius:50%;background:currentColor;margin-right:.35em}
.conn.ok{color:var(--ok)}.conn.bad{color:var(--bad);font-weight:700}
#offline{flex-basis:100%;padding:.5rem .75rem;border:2px solid var(--bad);border-radius:.5rem;color:var(--bad);font-weight:600;background:var(--bg2)}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,26rem),1fr));gap:1rem;padding-top:1rem;padding-bottom:1rem}
section{border:1px solid var(--line);border-radius:.75rem;padding:1rem;min-width:0}
.wide{grid-column:1/-1}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.6rem;margin:0}
.cards div{background:var(--bg2);border-radius:.5rem;padding:.5rem .75rem;min-width:0}
.cards dt{color:var(--muted);font-size:.8125rem}
.cards dd{margin:0;font-size:1.5rem;font-weight:650;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.cards small{font-size:.875rem;font-weight:400;color:var(--muted)}
.sub{display:block;font-size:.8125rem;font-weight:400;color:var(--muted)}.sub.bad{color:var(--bad)}
.pill{display:inline-block;padding:.1rem .75rem;border-radius:1rem;font-weight:700;background:var(--bg2);margin-right:.4rem}
.pill.healthy{color:var(--ok)}.pill.alert{color:var(--bad)}
#health-live{font-size:1.05rem}
ul.alerts{margin:.6rem 0 0;padding-left:1.25rem;color:var(--bad)}
.detail{margin-top:.6rem;color:var(--muted);font-size:.875rem}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
table+.scroll,.scroll+.scroll{margin-top:1rem}
caption{text-align:left;color:var(--muted);font-size:.875rem;padding-bottom:.3rem}
th,td{text-align:left;padding:.35rem .45rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:.8125rem;color:var(--muted);font-weight:600}
tbody th{font-weight:600}
.n{text-align:right;white-space:nowrap}
.m{display:block;color:var(--muted);font-size:.8125rem;font-weight:400}
.muted{color:var(--muted)}td.err{min-width:10rem;overflow-wrap:break-word}
.up,.down{font-weight:600;white-space:nowrap}.up{color:var(--ok)}.down{color:var(--bad)}
.up::before,.down::before{content:"";display:inline-block;width:.55em;height:.55em;margin-right:.35em;background:currentColor}
.up::before{border-radius:50%}
figure{margin:0 0 .75rem}
figcaption{color:var(--muted);font-size:.875rem;margin-bottom:.3rem}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.875rem;margin:0 0 .4rem;padding:0;list-style:none}
.sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.35rem;vertical-align:-.1rem}
.sw.c{background:var(--c)}.sw.b{background:var(--b)}.sw.p{background:var(--p)}
.bar{display:grid;grid-template-columns:3.2rem 1fr 2.8rem;align-items:center;gap:.5rem;font-variant-numeric:tabular-nums;margin:.2rem 0}
.bar svg{display:block;width:100%;height:1.1rem;background:var(--bg2);border-radius:2px}
.bar span:last-child{text-align:right}
rect{stroke:var(--bg);stroke-width:1px}rect.c{fill:var(--c)}rect.b{fill:var(--b)}rect.p{fill:var(--p)}
footer{color:var(--muted);font-size:.875rem;padding-bottom:1.5rem}
footer p+p{margin-top:.25rem}
a{color:var(--c)}
@media (max-width:30rem){header,main,footer{padding-left:.6rem;padding-right:.6rem}main{gap:.75rem}section{padding:.75rem .6rem}th,td{padding:.3rem .3rem}.n{white-space:normal}.cards{gap:.5rem}.cards div{padding:.45rem .6rem}}
`;
