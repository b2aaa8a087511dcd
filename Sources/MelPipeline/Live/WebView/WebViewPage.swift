// The web view's page, script and style, served by meltap itself: no build step, nothing fetched
// from elsewhere (the Content-Security-Policy allows only this origin). docs/web-view.md says
// what the page shows and the messages it reads.

enum WebViewPage {
    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>meltap</title>
        <link rel="stylesheet" href="/app.css">
        <script src="/app.js" defer></script>
        </head>
        <body>
        <header>
          <h1>meltap <span id="client"></span></h1>
          <span id="connection" data-state="connecting">connecting…</span>
        </header>
        <section id="status"><p>Waiting for the first status…</p></section>
        <main id="streams"></main>
        <footer>
          <p>Marks above each waterfall: <span class="key xrun">xrun</span> the frame's window overlaps input JACK
          reported as an xrun; <span class="key gap">gap</span> frames were lost before it (a full ring, or this
          page's queue); <span class="key discontinuity">discontinuity</span> the input timeline jumps (skipped
          cycles, a restart, a new rate). Time runs left to right, one column per frame.</p>
        </footer>
        </body>
        </html>

        """#

    static let style = #"""
        body { font: 14px system-ui, sans-serif; margin: 0 1em 1em; background: #111; color: #ddd; }
        header { display: flex; align-items: baseline; gap: 1em; }
        h1 { font-size: 1.3em; margin: 0.5em 0; }
        h2 { font-size: 1.1em; margin: 1em 0 0.3em; }
        #connection[data-state="open"] { color: #7c7; }
        #connection[data-state="closed"], #connection[data-state="refused"] { color: #f77; }
        table { border-collapse: collapse; margin: 0.3em 0; }
        td, th { padding: 1px 8px; text-align: right; font-variant-numeric: tabular-nums; }
        th { text-align: left; font-weight: normal; color: #999; }
        .row { display: flex; align-items: stretch; gap: 6px; margin: 4px 0; }
        .axis { position: relative; width: 64px; height: 172px; font-size: 11px; color: #aaa; }
        .axis span { position: absolute; right: 4px; transform: translateY(-50%); white-space: nowrap; }
        .plot { display: flex; flex-direction: column; }
        canvas.marks { width: 600px; height: 12px; image-rendering: pixelated; background: #000; }
        canvas.waterfall { width: 600px; height: 160px; image-rendering: pixelated; background: #000; }
        .bar { display: flex; gap: 4px; }
        canvas.colourbar { width: 14px; height: 160px; margin-top: 12px; }
        .barlabels { position: relative; width: 110px; height: 160px; margin-top: 12px; font-size: 11px; color: #aaa; }
        .barlabels span { position: absolute; left: 0; transform: translateY(-50%); white-space: nowrap; }
        .channel { color: #999; font-size: 12px; }
        .key { padding: 0 4px; color: #000; }
        .key.xrun { background: #ff2020; }
        .key.gap { background: #ffd000; }
        .key.discontinuity { background: #20c0ff; }
        footer { color: #999; font-size: 12px; max-width: 60em; }

        """#

    static let script = #"""
        'use strict';
        // meltap's web view (docs/web-view.md). Messages on /ws: text JSON `hello` (the streams),
        // `status` (meltap status --json's document), `web` (this browser's counts), `refused`;
        // binary frame batches (kind 1).
        const WIDTH = 600;             // columns shown, one per frame
        const MARK_HEIGHT = 12;        // three lanes of 4 px: xrun, gap, discontinuity
        const LANE = { xrun: 0, gap: 4, discontinuity: 8 };
        const MARK_COLOUR = { xrun: '#ff2020', gap: '#ffd000', discontinuity: '#20c0ff' };
        const FLAG = { gap: 1, xrun: 2, reconfigured: 4, serverRestart: 8, discontinuity: 16 };
        const RANGE_SECONDS = 5;       // the colour range covers the frames of the last 5 s
        const LOG_DECADES = 8;         // a logarithmic colour range spans at most 8 decades (80 dB)

        // matplotlib's inferno at 8 points, interpolated: brightness rises with the value.
        const LUT = (() => {
          const p = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
                     [250, 193, 39], [252, 255, 164]];
          const lut = new Uint8ClampedArray(256 * 3);
          for (let i = 0; i < 256; i++) {
            const x = i / 255 * (p.length - 1), k = Math.min(p.length - 2, Math.floor(x)), t = x - k;
            for (let c = 0; c < 3; c++) lut[i * 3 + c] = p[k][c] + (p[k + 1][c] - p[k][c]) * t;
          }
          return lut;
        })();

        // Everything the page knows, for a reader in the console (and the tests).
        const meltap = window.meltap = {
          hello: null, status: null, web: null, refused: null, views: [], ranges: [],
          framesReceived: 0, framesDrawn: 0, bytesReceived: 0, marks: { xrun: 0, gap: 0, discontinuity: 0 },
          flagged: [],     // the last 200 frames drawn with a mark: stream, channel (1-based), sequence, popped, kinds
          latencies: [],   // ms from the consumer popping a frame to its column drawn, last 2000
        };

        function setConnection(state, text) {
          const el = document.getElementById('connection');
          el.dataset.state = state;
          el.textContent = text;
        }

        function connect() {
          const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
          ws.binaryType = 'arraybuffer';
          ws.onopen = () => setConnection('open', 'live');
          ws.onmessage = (event) => {
            if (typeof event.data === 'string') {
              meltap.bytesReceived += event.data.length;
              onText(JSON.parse(event.data));
            } else {
              meltap.bytesReceived += event.data.byteLength;
              onBatch(new DataView(event.data));
            }
          };
          ws.onclose = () => {
            if (meltap.refused) return;
            setConnection('closed', 'disconnected; retrying…');
            setTimeout(connect, 2000);
          };
        }

        function onText(message) {
          if (message.type === 'hello') onHello(message);
          else if (message.type === 'status') { meltap.status = message.status; renderStatus(); }
          else if (message.type === 'web') { meltap.web = message; renderStatus(); }
          else if (message.type === 'refused') { meltap.refused = message.reason; setConnection('refused', message.reason); }
        }

        // ---- Streams and their waterfalls

        function el(tag, className, text) {
          const e = document.createElement(tag);
          if (className) e.className = className;
          if (text !== undefined) e.textContent = text;
          return e;
        }

        function hz(f) { return f >= 1000 ? (f / 1000).toFixed(f >= 10000 ? 0 : 1) + ' kHz' : Math.round(f) + ' Hz'; }

        function onHello(hello) {
          meltap.hello = hello;
          document.getElementById('client').textContent = hello.client + ' (' + hello.meltapVersion + ')';
          const main = document.getElementById('streams');
          main.replaceChildren();
          meltap.views = [];
          meltap.ranges = [];
          for (const stream of hello.streams) {
            const section = el('section', 'stream');
            section.dataset.stream = stream.name;
            const title = (stream.name || 'stream') + ': ' + stream.preset + ' at ' + stream.sampleRate + ' Hz, '
              + stream.bandCount + ' values per frame, ' + stream.frameRate.toFixed(2) + ' frames/s, values in '
              + stream.unit + (stream.colourScale === 'log' ? ' (logarithmic colours)' : '');
            section.append(el('h2', null, title));
            meltap.ranges[stream.index] = { buckets: [{ lo: Infinity, hi: -Infinity }], started: performance.now(),
                                            lo: 0, hi: 1, log: stream.colourScale === 'log' };
            const views = [];
            for (let channel = 0; channel < stream.channelCount; channel++) {
              views.push(makeView(section, stream, channel));
            }
            meltap.views[stream.index] = views;
            main.append(section);
          }
        }

        function makeView(section, stream, channel) {
          const bands = stream.bandCount;
          section.append(el('div', 'channel', 'in_' + (channel + 1)));
          const row = el('div', 'row');
          const axis = el('div', 'axis');
          const ticks = 6;
          for (let t = 0; t <= ticks; t++) {
            const band = Math.round(t / ticks * (bands - 1));
            const label = stream.axisKind === 'hz' ? hz(stream.axis[band]) : 'band ' + band;
            const span = el('span', null, label);
            span.style.top = (12 + (1 - (band + 0.5) / bands) * 160) + 'px';
            axis.append(span);
          }
          const plot = el('div', 'plot');
          const marks = el('canvas', 'marks');
          marks.width = WIDTH; marks.height = MARK_HEIGHT;
          const waterfall = el('canvas', 'waterfall');
          waterfall.width = WIDTH; waterfall.height = bands;
          for (const c of [marks, waterfall]) {
            c.dataset.stream = stream.name; c.dataset.streamIndex = stream.index; c.dataset.channel = channel + 1;
          }
          plot.append(marks, waterfall);
          const bar = el('div', 'bar');
          const colourbar = el('canvas', 'colourbar');
          colourbar.width = 1; colourbar.height = 256;
          const image = colourbar.getContext('2d').createImageData(1, 256);
          for (let i = 0; i < 256; i++) {
            for (let c = 0; c < 3; c++) image.data[(255 - i) * 4 + c] = LUT[i * 3 + c];
            image.data[(255 - i) * 4 + 3] = 255;
          }
          colourbar.getContext('2d').putImageData(image, 0, 0);
          const labels = el('div', 'barlabels');
          labels.dataset.stream = stream.name; labels.dataset.channel = channel + 1;
          bar.append(colourbar, labels);
          row.append(axis, plot, bar);
          section.append(row);
          return { stream, channel, waterfall, marks, labels, pending: [], lastSequence: null,
                   wctx: waterfall.getContext('2d'), mctx: marks.getContext('2d') };
        }

        // One batch: u8 kind 1, u8 stream, u16 count, then frames of 28 + B bytes (docs/web-view.md).
        function onBatch(view) {
          if (view.getUint8(0) !== 1 || !meltap.hello) return;
          const stream = view.getUint8(1), count = view.getUint16(2, true);
          const views = meltap.views[stream], range = meltap.ranges[stream];
          if (!views) return;
          let offset = 4;
          for (let i = 0; i < count; i++) {
            const sequence = view.getUint32(offset, true), channel = view.getUint16(offset + 4, true);
            const flags = view.getUint8(offset + 6), bands = view.getUint16(offset + 8, true);
            const popped = view.getFloat64(offset + 12, true);
            const min = view.getFloat32(offset + 20, true), max = view.getFloat32(offset + 24, true);
            const levels = new Uint8Array(view.buffer, view.byteOffset + offset + 28, bands);
            offset += 28 + bands;
            meltap.framesReceived++;
            const v = views[channel];
            if (!v || bands !== v.waterfall.height) continue;
            let gap = (flags & FLAG.gap) !== 0;
            if (v.lastSequence !== null && sequence !== ((v.lastSequence + 1) >>> 0)) gap = true;
            v.lastSequence = sequence;
            const bucket = range.buckets[range.buckets.length - 1];
            bucket.lo = Math.min(bucket.lo, min); bucket.hi = Math.max(bucket.hi, max);
            v.pending.push({ levels: levels.slice(), sequence, min, max, popped, gap,
                             xrun: (flags & FLAG.xrun) !== 0,
                             discontinuity: (flags & (FLAG.discontinuity | FLAG.serverRestart | FLAG.reconfigured)) !== 0 });
            // A hidden tab draws nothing; only the last WIDTH frames can still be seen.
            if (v.pending.length > WIDTH) v.pending.splice(0, v.pending.length - WIDTH);
          }
        }

        // The colour range of each stream: the frames of the last RANGE_SECONDS, in one-second buckets.
        function updateRanges(now) {
          for (const range of meltap.ranges) {
            if (!range) continue;
            if (now - range.started >= 1000) {
              range.started = now;
              range.buckets.push({ lo: Infinity, hi: -Infinity });
              if (range.buckets.length > RANGE_SECONDS) range.buckets.shift();
            }
            let lo = Infinity, hi = -Infinity;
            for (const b of range.buckets) { lo = Math.min(lo, b.lo); hi = Math.max(hi, b.hi); }
            if (!(lo <= hi)) continue;
            if (range.log) lo = Math.max(lo, hi - LOG_DECADES);
            if (hi - lo < 1e-6) hi = lo + 1e-6;
            range.lo = lo; range.hi = hi;
          }
        }

        function label(value, range) {
          if (range.log) return Math.pow(10, value).toExponential(1);
          return Math.abs(value) >= 100 ? value.toFixed(0) : Math.abs(value) >= 1 ? value.toFixed(1) : value.toPrecision(2);
        }

        function drawLabels(v, range) {
          const stream = meltap.hello.streams[v.stream.index];
          const values = [range.hi, (range.hi + range.lo) / 2, range.lo];
          const key = values.map((x) => label(x, range)).join('|');
          if (v.labels.dataset.key === key) return;
          v.labels.dataset.key = key;
          v.labels.dataset.lo = range.lo; v.labels.dataset.hi = range.hi;
          v.labels.replaceChildren();
          values.forEach((x, i) => {
            const span = el('span', null, label(x, range) + (i === 0 ? ' ' + stream.unit : ''));
            span.style.top = (i / 2 * 160) + 'px';
            v.labels.append(span);
          });
        }

        function draw() {
          const now = performance.now(), wall = performance.timeOrigin + now;
          updateRanges(now);
          for (const views of meltap.views) {
            if (!views) continue;
            for (const v of views) {
              const range = meltap.ranges[v.stream.index];
              drawLabels(v, range);
              const n = v.pending.length;
              if (n === 0) continue;
              const bands = v.waterfall.height;
              v.wctx.drawImage(v.waterfall, -n, 0);
              v.mctx.drawImage(v.marks, -n, 0);
              v.mctx.clearRect(WIDTH - n, 0, n, MARK_HEIGHT);
              const image = v.wctx.createImageData(n, bands), data = image.data;
              const toIndex = 255 / (range.hi - range.lo);
              for (let x = 0; x < n; x++) {
                const f = v.pending[x];
                // level q is min + q/255·(max − min); its colour index is (value − lo)·255/(hi − lo).
                const a = (f.max - f.min) / 255 * toIndex, b = (f.min - range.lo) * toIndex;
                for (let band = 0; band < bands; band++) {
                  const i = Math.max(0, Math.min(255, Math.round(a * f.levels[band] + b))) * 3;
                  const p = ((bands - 1 - band) * n + x) * 4;
                  data[p] = LUT[i]; data[p + 1] = LUT[i + 1]; data[p + 2] = LUT[i + 2]; data[p + 3] = 255;
                }
                const kinds = ['xrun', 'gap', 'discontinuity'].filter((kind) => f[kind]);
                for (const kind of kinds) {
                  meltap.marks[kind]++;
                  v.mctx.fillStyle = MARK_COLOUR[kind];
                  v.mctx.fillRect(WIDTH - n + x, LANE[kind], 1, 4);
                }
                if (kinds.length > 0) {
                  meltap.flagged.push({ stream: v.stream.name, channel: v.channel + 1, sequence: f.sequence,
                                        popped: f.popped, kinds });
                  if (meltap.flagged.length > 200) meltap.flagged.shift();
                }
                meltap.latencies.push(wall - f.popped);
              }
              v.wctx.putImageData(image, WIDTH - n, 0);
              meltap.framesDrawn += n;
              v.pending = [];
            }
          }
          if (meltap.latencies.length > 2000) meltap.latencies.splice(0, meltap.latencies.length - 2000);
          requestAnimationFrame(draw);
        }

        // ---- Status: the figures of `meltap status`

        function f(x, digits) { return Number(x).toFixed(digits); }
        function percent(share) { return f(share * 100, 2) + ' %'; }
        function percentile(values, p) {
          if (values.length === 0) return NaN;
          const sorted = Float64Array.from(values).sort();
          return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
        }

        function cell(row, field, value, text) {
          const td = el('td', null, text);
          td.dataset.field = field;
          td.dataset.value = String(value);
          row.append(td);
        }

        function table(title, headings) {
          const t = el('table');
          const head = el('tr');
          head.append(el('th', null, title));
          for (const h of headings) head.append(el('th', null, h));
          t.append(head);
          return t;
        }

        function renderStatus() {
          const s = meltap.status, root = document.getElementById('status');
          if (!s) return;
          root.replaceChildren();
          const c = s.callbacks;
          const instance = table('instance', ['uptime', 'JACK rate', 'period', 'xruns', 'restarts', 'discontinuities',
                                              'CPU (one core)', 'user', 'system']);
          let r = el('tr');
          r.append(el('th', null, s.client + ' pid ' + s.pid));
          cell(r, 'uptimeSeconds', s.uptimeSeconds, f(s.uptimeSeconds, 1) + ' s');
          cell(r, 'inputSampleRate', s.inputSampleRate, Math.round(s.inputSampleRate) + ' Hz');
          cell(r, 'blockLength', s.blockLength, s.blockLength + ' (' + f(c.periodMicroseconds / 1000, 2) + ' ms)');
          cell(r, 'xruns', s.xruns, String(s.xruns));
          cell(r, 'restarts', s.restarts, String(s.restarts));
          cell(r, 'discontinuities', s.discontinuities, String(s.discontinuities));
          cell(r, 'cpu.shareOfOneCore', s.cpu.shareOfOneCore, percent(s.cpu.shareOfOneCore));
          cell(r, 'cpu.userSeconds', s.cpu.userSeconds, f(s.cpu.userSeconds, 2) + ' s');
          cell(r, 'cpu.systemSeconds', s.cpu.systemSeconds, f(s.cpu.systemSeconds, 2) + ' s');
          instance.append(r);
          const callbacks = table('callbacks', ['count', 'p50', 'p99', 'p99.9', 'max']);
          r = el('tr');
          r.append(el('th', null, 'duration (share of the period)'));
          cell(r, 'callbacks.count', c.count, String(c.count));
          for (const [name, us, share] of [['p50', c.p50Microseconds, c.p50Share], ['p99', c.p99Microseconds, c.p99Share],
                                           ['p999', c.p999Microseconds, c.p999Share],
                                           ['maximum', c.maximumMicroseconds, c.maximumShare]]) {
            cell(r, 'callbacks.' + name + 'Share', share, f(us, 1) + ' µs (' + percent(share) + ')');
          }
          callbacks.append(r);
          const streams = table('streams', ['preset', 'rate', 'resampler', 'hop', 'width', 'frames', 'dropped',
                                            'subscribers', 'subscriber drops']);
          const channels = table('channels', ['frame rate', 'frames', 'gaps', 'lost', 'xrun frames', 'discontinuity frames']);
          s.streams.forEach((stream, i) => {
            r = el('tr');
            r.append(el('th', null, stream.name || '(single)'));
            const p = 'streams.' + i + '.';
            cell(r, p + 'preset', stream.preset, stream.preset);
            cell(r, p + 'sampleRate', stream.sampleRate, Math.round(stream.sampleRate) + ' Hz');
            cell(r, p + 'resampler', stream.resampler, stream.resampler);
            cell(r, p + 'hopLength', stream.hopLength, String(stream.hopLength));
            cell(r, p + 'frameWidth', stream.frameWidth, String(stream.frameWidth));
            cell(r, p + 'frames', stream.frames, String(stream.frames));
            cell(r, p + 'drops', stream.drops, String(stream.drops));
            cell(r, p + 'subscribers', stream.subscribers, String(stream.subscribers));
            cell(r, p + 'subscriberDrops', stream.subscriberDrops, String(stream.subscriberDrops));
            streams.append(r);
            stream.channels.forEach((ch, k) => {
              const q = p + 'channels.' + k + '.';
              r = el('tr');
              r.append(el('th', null, (stream.name || '(single)') + ' ' + ch.port));
              cell(r, q + 'frameRate', ch.frameRate, f(ch.frameRate, 2) + ' frames/s');
              cell(r, q + 'frames', ch.frames, String(ch.frames));
              cell(r, q + 'gaps', ch.gaps, String(ch.gaps));
              cell(r, q + 'lostFrames', ch.lostFrames, String(ch.lostFrames));
              cell(r, q + 'xrunFrames', ch.xrunFrames, String(ch.xrunFrames));
              cell(r, q + 'discontinuityFrames', ch.discontinuityFrames, String(ch.discontinuityFrames));
              channels.append(r);
            });
          });
          root.append(instance, callbacks, streams, channels);
          const w = meltap.web;
          if (w) {
            const web = table('this page', ['browsers', 'dropped for this page', 'frames drawn',
                                            'popped → drawn p50', 'p99', 'max', 'marks xrun / gap / discontinuity']);
            r = el('tr');
            r.append(el('th', null, 'web view'));
            cell(r, 'web.browsers', w.browsers, w.browsers + ' of ' + w.maximumBrowsers);
            cell(r, 'web.droppedFrames', w.droppedFrames, String(w.droppedFrames));
            cell(r, 'page.framesDrawn', meltap.framesDrawn, String(meltap.framesDrawn));
            const l = meltap.latencies;
            for (const [name, p] of [['p50', 0.5], ['p99', 0.99], ['max', 1]]) {
              const x = percentile(l, p);
              cell(r, 'page.latency.' + name, x, isNaN(x) ? '–' : f(x, 1) + ' ms');
            }
            const m = meltap.marks;
            cell(r, 'page.marks', m.xrun + '/' + m.gap + '/' + m.discontinuity, m.xrun + ' / ' + m.gap + ' / ' + m.discontinuity);
            web.append(r);
            root.append(web);
          }
        }

        connect();
        requestAnimationFrame(draw);

        """#
}
