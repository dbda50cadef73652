// The zoo serve page: talks only to this server's /v1 routes; nothing is fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let models = [];

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = $("api-key").value || localStorage.getItem("zoo-api-key");
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function say(text) { $("status").textContent = text || ""; }

async function post(name, route, body) {
  const r = await fetch(`/v1/models/${encodeURIComponent(name)}/${route}`, {
    method: "POST", headers: headers({"Content-Type": "application/json"}), body: JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || r.statusText);
  return data;
}

function fill(select, list) {
  select.innerHTML = "";
  for (const m of list) {
    const o = document.createElement("option");
    o.value = m.name; o.textContent = `${m.name} (${m.task})`;
    select.appendChild(o);
  }
}

async function loadModels() {
  const r = await fetch("/v1/models", {headers: headers()});
  if (r.status === 401) {
    $("key-box").hidden = false;
    $("models-line").textContent = "this server needs its API key";
    return;
  }
  models = (await r.json()).models;
  $("models-line").textContent = "serving " + models.map((m) => m.name).join(", ");
  const can = (route, cond) => models.filter((m) => m.routes.includes(route) && (!cond || cond(m)));
  const sections = [
    ["classify", "classifier", can("predict")],
    ["generate", "generator", can("sample", (m) => m.conditioning !== "prompt")],
    ["prompting", "prompt-model", can("sample", (m) => m.conditioning === "prompt")],
    ["inpainting", "inpainter", can("inpaint")],
  ];
  for (const [section, select, list] of sections) {
    $(section).hidden = list.length === 0;
    fill($(select), list);
  }
  showLabel();
}

// ---------------------------------------------------------------- drawing a digit

const draw = $("draw"), dctx = draw.getContext("2d");
function clearDrawing() {
  dctx.fillStyle = "#000"; dctx.fillRect(0, 0, draw.width, draw.height);
  $("prediction").textContent = "–"; $("bars").innerHTML = "";
}

function strokes(canvas, ctx, onEnd, style) {
  let down = false, last = null;
  const at = (e) => { const b = canvas.getBoundingClientRect();
    return [(e.clientX - b.left) * canvas.width / b.width, (e.clientY - b.top) * canvas.height / b.height]; };
  canvas.addEventListener("pointerdown", (e) => { down = true; last = at(e); canvas.setPointerCapture?.(e.pointerId); style(ctx);
    ctx.beginPath(); ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI); ctx.fill(); });
  canvas.addEventListener("pointermove", (e) => { if (!down) return; const p = at(e);
    ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke(); last = p; });
  const end = () => { if (down) { down = false; onEnd(); } };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointerleave", end);
}

// MNIST's digits sit in a 20 x 20 box centred in 28 x 28: the drawing is cropped to its ink and fitted the same way.
function digitImage(canvas) {
  const ctx = canvas.getContext("2d");
  const {data, width, height} = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    if (data[(y * width + x) * 4] > 40) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  const out = document.createElement("canvas"); out.width = out.height = 28;
  const octx = out.getContext("2d"); octx.fillStyle = "#000"; octx.fillRect(0, 0, 28, 28);
  if (x1 < 0) return out;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, scale = 20 / Math.max(w, h);
  octx.imageSmoothingEnabled = true; octx.imageSmoothingQuality = "high";
  octx.drawImage(canvas, x0, y0, w, h, 14 - w * scale / 2, 14 - h * scale / 2, w * scale, h * scale);
  return out;
}

async function classify() {
  const name = $("classifier").value;
  if (!name) return;
  try {
    const image = digitImage(draw).toDataURL("image/png");
    const res = await post(name, "predict", {image, top_k: 10});
    $("prediction").textContent = res.top[0].label;
    $("bars").innerHTML = "";
    for (const t of res.top) {
      const li = document.createElement("li");
      li.innerHTML = `<span>${t.label}</span><span class="bar" style="width:${Math.round(t.probability * 200)}px"></span>` +
                     `<span>${(t.probability * 100).toFixed(1)}%</span>`;
      $("bars").appendChild(li);
    }
    say("");
  } catch (err) { say(err.message); }
}

strokes(draw, dctx, classify, (c) => { c.strokeStyle = c.fillStyle = "#fff"; c.lineWidth = 18; c.lineCap = c.lineJoin = "round"; });
$("clear").addEventListener("click", clearDrawing);

// ---------------------------------------------------------------- samples

function showLabel() {
  const m = models.find((x) => x.name === $("generator").value);
  $("label-box").hidden = !(m && m.conditioning === "label");
}
$("generator").addEventListener("change", showLabel);

async function sampleInto(img, name, body) {
  try {
    const res = await post(name, "sample", Object.assign({format: "base64"}, body));
    const grid = await gridOf(res.images);
    img.src = grid;
    say("");
  } catch (err) { say(err.message); }
}

// one picture from the server's PNGs, side by side in rows (the server's own grid is the PNG answer)
async function gridOf(pngs) {
  const imgs = await Promise.all(pngs.map((b) => new Promise((ok, bad) => {
    const i = new Image(); i.onload = () => ok(i); i.onerror = bad; i.src = "data:image/png;base64," + b; })));
  const cols = Math.ceil(Math.sqrt(imgs.length)), rows = Math.ceil(imgs.length / cols);
  const w = imgs[0].width, h = imgs[0].height, scale = 3;
  const c = document.createElement("canvas"); c.width = cols * (w + 2) * scale; c.height = rows * (h + 2) * scale;
  const ctx = c.getContext("2d"); ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height); ctx.imageSmoothingEnabled = false;
  imgs.forEach((im, k) => ctx.drawImage(im, (k % cols) * (w + 2) * scale, Math.floor(k / cols) * (h + 2) * scale, w * scale, h * scale));
  return c.toDataURL("image/png");
}

$("sample").addEventListener("click", () => {
  const body = {n: Number($("count").value), seed: Number($("seed").value)};
  if (!$("label-box").hidden && $("label").value !== "") body.label = Number($("label").value);
  sampleInto($("grid"), $("generator").value, body);
});
$("prompt-go").addEventListener("click", () => {
  sampleInto($("prompt-grid"), $("prompt-model").value,
             {n: 16, seed: Number($("prompt-seed").value), prompt: $("prompt").value});
});

// ---------------------------------------------------------------- inpainting

const erase = $("erase"), ectx = erase.getContext("2d");
let source = null, hole = null;  // the digit (a canvas at its own size) and the erased pixels (a canvas, white = missing)

function setSource(canvas) {
  source = canvas;
  hole = document.createElement("canvas"); hole.width = canvas.width; hole.height = canvas.height;
  const h = hole.getContext("2d"); h.fillStyle = "#000"; h.fillRect(0, 0, hole.width, hole.height);
  showErase();
}

function showErase() {
  ectx.imageSmoothingEnabled = false;
  ectx.drawImage(source, 0, 0, erase.width, erase.height);
  ectx.globalAlpha = 0.6; ectx.drawImage(redOf(hole), 0, 0, erase.width, erase.height); ectx.globalAlpha = 1;
}

function redOf(mask) {
  const c = document.createElement("canvas"); c.width = mask.width; c.height = mask.height;
  const x = c.getContext("2d"); const d = mask.getContext("2d").getImageData(0, 0, mask.width, mask.height);
  for (let i = 0; i < d.data.length; i += 4) { const on = d.data[i] > 127; d.data[i] = 220; d.data[i + 1] = 40; d.data[i + 2] = 40; d.data[i + 3] = on ? 255 : 0; }
  x.putImageData(d, 0, 0); return c;
}

(function eraser() {
  let down = false;
  const rub = (e) => {
    if (!down || !hole) return;
    const b = erase.getBoundingClientRect();
    const x = (e.clientX - b.left) / b.width * hole.width, y = (e.clientY - b.top) / b.height * hole.height;
    const h = hole.getContext("2d"); h.fillStyle = "#fff";
    h.beginPath(); h.arc(x, y, Math.max(1.5, hole.width / 14), 0, 2 * Math.PI); h.fill();
    showErase();
  };
  erase.addEventListener("pointerdown", (e) => { down = true; rub(e); });
  erase.addEventListener("pointermove", rub);
  erase.addEventListener("pointerup", () => { down = false; });
  erase.addEventListener("pointerleave", () => { down = false; });
})();

$("use-drawing").addEventListener("click", () => setSource(digitImage(draw)));
$("new-digit").addEventListener("click", async () => {
  try {
    const res = await post($("inpainter").value, "sample", {n: 1, seed: Math.floor(Math.random() * 1e6), format: "base64"});
    const img = new Image();
    img.onload = () => { const c = document.createElement("canvas"); c.width = img.width; c.height = img.height;
      c.getContext("2d").drawImage(img, 0, 0); setSource(c); };
    img.src = "data:image/png;base64," + res.images[0];
  } catch (err) { say(err.message); }
});
$("correct").addEventListener("click", async () => {
  if (!source) { say("take a digit first"); return; }
  say("correcting…");
  try {
    const res = await post($("inpainter").value, "inpaint",
                           {image: source.toDataURL("image/png"), mask: hole.toDataURL("image/png"), format: "base64"});
    $("inpaint-result").src = "data:image/png;base64," + res.images[0];
    say("");
  } catch (err) { say(err.message); }
});

$("api-key").addEventListener("change", () => { localStorage.setItem("zoo-api-key", $("api-key").value); loadModels(); });
clearDrawing();
loadModels();
