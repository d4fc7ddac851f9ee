/* ocimirror web UI: the Margo catalog of this mirror, its repositories,
 * device checks, deployment configuration and the last sync.
 *
 * Everything a supplier wrote (names, descriptions, Markdown files) is put
 * in the page as text nodes; the Markdown renderer builds a small, fixed
 * set of elements with DOM calls and keeps only http(s) links. No
 * innerHTML anywhere, no inline script or style (the page's CSP forbids
 * both). */
'use strict';

(function () {
	const API = '/ocimirror/v1/';
	const view = document.getElementById('view');
	const state = { apps: null, q: '', tags: new Set(), deviceId: '' };
	let seq = 0; /* the route being drawn: stale answers are dropped */

	/* ---- DOM helpers ---- */
	function h(tag, attrs) {
		const el = document.createElement(tag);
		if (attrs)
			for (const k of Object.keys(attrs)) {
				const v = attrs[k];
				if (v === null || v === undefined || v === false)
					continue;
				if (k === 'class') el.className = v;
				else if (k === 'text') el.textContent = v;
				else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
				else if (k in el && typeof v !== 'string') el[k] = v;
				else el.setAttribute(k, v === true ? '' : String(v));
			}
		for (let i = 2; i < arguments.length; i++) add(el, arguments[i]);
		return el;
	}
	function add(el, c) {
		if (c === null || c === undefined || c === false) return;
		if (Array.isArray(c)) c.forEach((x) => add(el, x));
		else if (c instanceof Node) el.appendChild(c);
		else el.appendChild(document.createTextNode(String(c)));
	}
	function clear(el) {
		while (el.firstChild) el.removeChild(el.firstChild);
	}
	function show() {
		clear(view);
		for (let i = 0; i < arguments.length; i++) add(view, arguments[i]);
	}
	function str(v) {
		return v === null || v === undefined ? '' : String(v);
	}
	function qs(o) {
		const p = new URLSearchParams();
		for (const k of Object.keys(o))
			if (o[k] !== undefined && o[k] !== null && o[k] !== '') p.set(k, o[k]);
		return p.toString();
	}
	function link(route, params, text, cls) {
		const q = params ? qs(params) : '';
		return h('a', { href: '#/' + route + (q ? '?' + q : ''), class: cls }, text);
	}
	/* A URL the server gave for one of its own resources: same origin only. */
	function own(url) {
		if (typeof url !== 'string' || !url) return null;
		try {
			const u = new URL(url, location.href);
			return u.origin === location.origin ? u.href : null;
		} catch (e) {
			return null;
		}
	}
	function pill(ok, yes, no) {
		return h('span', { class: 'pill ' + (ok ? 'ok' : 'bad') }, ok ? yes : no);
	}
	function size(n) {
		if (typeof n !== 'number') return '';
		const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
		return (i ? n.toFixed(1) : n) + ' ' + u[i];
	}
	function errorBox(what, e) {
		return h('div', { class: 'errbox', role: 'alert' }, what + ': ' + (e && e.message ? e.message : String(e)));
	}

	/* ---- the JSON API ---- */
	class HttpError extends Error {
		constructor(status, message, body) {
			super(message);
			this.status = status;
			this.body = body;
		}
	}
	async function api(path, opts) {
		const resp = await fetch(API + path, Object.assign({ credentials: 'same-origin' }, opts || {}));
		const type = resp.headers.get('Content-Type') || '';
		let body = null;
		if (type.includes('json')) body = await resp.json().catch(() => null);
		else body = await resp.text();
		if (!resp.ok) {
			let msg = 'HTTP ' + resp.status;
			if (resp.status === 404 && !(body && body.errors && body.errors[0] && body.errors[0].code !== 'NAME_UNKNOWN'))
				msg += ' (not available on this server: ' + path.split('?')[0] + ')';
			if (body && Array.isArray(body.errors) && body.errors.length) {
				const first = body.errors[0];
				msg += ': ' + (typeof first === 'string' ? first : str(first.message));
			}
			throw new HttpError(resp.status, msg, body);
		}
		return body;
	}
	async function apps() {
		if (!state.apps) {
			const a = await api('apps');
			state.apps = Array.isArray(a) ? a : (a && Array.isArray(a.applications) ? a.applications : []);
		}
		return state.apps;
	}
	function orgNames(o) {
		if (!Array.isArray(o)) return [];
		return o.map((x) => (typeof x === 'string' ? x : str(x && x.name))).filter(Boolean);
	}

	/* ---- Markdown, a safe subset ---- */
	const INLINE = new RegExp([
		'(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)', /* 1,2 code */
		'!\\[([^\\]]*)\\]\\([^)]*\\)', /* 3 image: its text only */
		'\\[([^\\]]*)\\]\\(\\s*<?([^)\\s>]*)>?(?:\\s+"[^"]*")?\\s*\\)', /* 4,5 link */
		'\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*', /* 6 strong */
		'__(?=\\S)([\\s\\S]*?\\S)__', /* 7 strong */
		'\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*', /* 8 em */
		'(?<![A-Za-z0-9])_(?=[^\\s_])([\\s\\S]*?[^\\s_])_(?![A-Za-z0-9])', /* 9 em */
		'<(https?://[^>\\s]+)>', /* 10 autolink */
	].join('|'), 'g');

	function safeHref(u) {
		try {
			const p = new URL(u);
			return p.protocol === 'http:' || p.protocol === 'https:' ? p.href : null;
		} catch (e) {
			return null;
		}
	}
	function mdLink(text, url, parent, depth) {
		const href = safeHref(url);
		const el = href
			? h('a', { href: href, rel: 'noopener noreferrer nofollow', target: '_blank' })
			: h('span', { class: 'dead-link', title: 'link removed (only http and https links are kept)' });
		inline(text, el, depth + 1, true);
		parent.appendChild(el);
	}
	/* Bounds on a supplier's file: the renderer's regular expressions scan
	 * ahead for closing marks, so a run of n characters costs up to n*n.
	 * A run (paragraph, heading, list item) over RUN_MAX characters is
	 * shown as plain text; past MD_MAX the file is shown as plain text. */
	const RUN_MAX = 8 * 1024;
	const MD_MAX = 256 * 1024;
	function cutNote(text) {
		return h('span', { class: 'md-cut', text: text });
	}
	/* the inline Markdown of one block's text s into el */
	function run(s, el) {
		if (s.length <= RUN_MAX) { inline(s, el); return; }
		el.classList.add('md-plain');
		el.appendChild(cutNote('(over 8 KiB: shown as plain text) '));
		add(el, s);
	}
	function inline(s, parent, depth, inLink) {
		depth = depth || 0;
		if (depth > 8) { add(parent, s); return; }
		const re = new RegExp(INLINE.source, 'g');
		let at = 0, m;
		while ((m = re.exec(s))) {
			if (m.index > at) add(parent, s.slice(at, m.index));
			at = re.lastIndex;
			if (m[1] !== undefined) parent.appendChild(h('code', { text: m[2].replace(/^ (.*) $/, '$1') }));
			else if (m[3] !== undefined) add(parent, m[3]);
			else if (m[4] !== undefined) {
				if (inLink) inline(m[4], parent, depth + 1, true);
				else mdLink(m[4], m[5], parent, depth);
			} else if (m[6] !== undefined || m[7] !== undefined) {
				const el = h('strong');
				inline(m[6] !== undefined ? m[6] : m[7], el, depth + 1, inLink);
				parent.appendChild(el);
			} else if (m[8] !== undefined || m[9] !== undefined) {
				const el = h('em');
				inline(m[8] !== undefined ? m[8] : m[9], el, depth + 1, inLink);
				parent.appendChild(el);
			} else if (m[10] !== undefined) {
				if (inLink) add(parent, m[10]);
				else mdLink(m[10], m[10], parent, depth);
			}
		}
		if (at < s.length) add(parent, s.slice(at));
	}

	const FENCE = /^ {0,3}(`{3,}|~{3,})/;
	const HEADING = /^ {0,3}(#{1,6})(?=\s|$)(.*)$/;
	const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(\s+|$)(.*)$/;
	const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
	const QUOTE = /^ {0,3}>\s?(.*)$/;
	function blockStart(line) {
		return line.length <= RUN_MAX && (FENCE.test(line) || HEADING.test(line) || ITEM.test(line) || RULE.test(line));
	}

	function markdown(text) {
		const root = h('div', { class: 'md' });
		let all = str(text), rest = '';
		if (all.length > MD_MAX) {
			const nl = all.lastIndexOf('\n', MD_MAX);
			const at = nl > 0 ? nl + 1 : MD_MAX;
			rest = all.slice(at);
			all = all.slice(0, at);
		}
		const lines = all.replace(/\r\n?/g, '\n').split('\n');
		let i = 0;
		while (i < lines.length) {
			const line = lines[i];
			let m;
			if (/^\s*$/.test(line)) { i++; continue; }
			const block = blockStart(line); /* else a paragraph */
			if (block && (m = FENCE.exec(line))) {
				const fence = m[1], body = [];
				for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
				i++;
				root.appendChild(h('pre', null, h('code', { text: body.join('\n') })));
			} else if (block && (m = HEADING.exec(line))) {
				const el = h('h' + m[1].length);
				let t = m[2].trim();
				if (/^#+$/.test(t)) t = '';
				else if (/\s#+$/.test(t)) t = t.replace(/#+$/, '').trim();
				run(t, el);
				root.appendChild(el);
				i++;
			} else if (block && RULE.test(line)) {
				root.appendChild(h('hr'));
				i++;
			} else if (block && (m = ITEM.exec(line))) {
				const ordered = /\d/.test(m[2]);
				const list = h(ordered ? 'ol' : 'ul');
				if (ordered && parseInt(m[2], 10) !== 1) list.setAttribute('start', String(parseInt(m[2], 10)));
				let item = null;
				while (i < lines.length) {
					const l = lines[i];
					const im = ITEM.exec(l);
					if (im && /\d/.test(im[2]) === ordered) {
						item = [im[4]];
						list.appendChild(h('li'));
						list.lastChild._md = item;
						i++;
					} else if (item && /^\s+\S/.test(l) && !im) {
						item.push(l.trim());
						i++;
					} else if (item && !/^\s*$/.test(l) && !blockStart(l) && !im) {
						item.push(l.trim()); /* lazy continuation */
						i++;
					} else if (/^\s*$/.test(l) && i + 1 < lines.length && ITEM.test(lines[i + 1]) &&
						   /\d/.test(ITEM.exec(lines[i + 1])[2]) === ordered) {
						i++;
					} else break;
				}
				for (const li of list.children) { run(li._md.join(' '), li); delete li._md; }
				root.appendChild(list);
			} else {
				const para = [];
				while (i < lines.length && !/^\s*$/.test(lines[i]) && (para.length === 0 || !blockStart(lines[i]))) {
					const q = QUOTE.exec(lines[i]);
					para.push((q ? q[1] : lines[i]).trim());
					i++;
				}
				const p = h('p');
				run(para.join(' '), p);
				root.appendChild(p);
			}
		}
		if (rest) {
			root.appendChild(h('p', { class: 'md-cut' }, 'The file is over 256 KiB: the remaining ' + size(rest.length) +
				' are shown as plain text.'));
			root.appendChild(h('pre', { class: 'md-rest' }, h('code', { text: rest })));
		}
		return root;
	}

	/* ---- configuration rules: mirror/margo/config.c's, with its words ---- */
	function g17(x) { /* printf %.17g */
		let t = Number(x).toPrecision(17);
		let m = /^(-?)(\d+)(?:\.(\d*))?e([-+])(\d+)$/.exec(t);
		if (m) {
			const frac = (m[3] || '').replace(/0+$/, '');
			return m[1] + m[2] + (frac ? '.' + frac : '') + 'e' + m[4] + (m[5].length < 2 ? '0' : '') + m[5];
		}
		if (t.includes('.')) t = t.replace(/0+$/, '').replace(/\.$/, '');
		return t;
	}
	/* [-+]?(D+(.D*)?|.D+)([eE][-+]?D+)?; null when not one, else the digits
	 * after the point less the exponent (not below 0) */
	function precisionOf(v) {
		const m = /^[-+]?(?:\d+(?:\.(\d*))?|\.(\d+))(?:[eE]([-+]?\d+))?$/.exec(v);
		if (!m || !isFinite(Number(v))) return null;
		const frac = (m[1] || m[2] || '').length, ex = m[3] ? parseInt(m[3], 10) : 0;
		return Math.max(0, frac - ex);
	}
	function isNum(v) {
		return typeof v === 'number' && isFinite(v);
	}
	function baseType(s) {
		const t = str(s.dataType).trim();
		const m = /^array\s*\[\s*(\w+)\s*\]$/i.exec(t);
		return { type: (m ? m[1] : t).toLowerCase(), array: !!m };
	}
	/* A supplier's regexMatch, compiled once; null when the page leaves it
	 * to the server: it does not compile here, or it may backtrack for
	 * ever (a repeated group holding a quantifier or an alternation, as
	 * (a+)+$ or (a|aa)*). */
	const VALUE_MAX = 4096; /* MARGO_VALUE_MAX: the server refuses longer values */
	const regexes = new Map();
	function regexRisky(p) {
		const stack = [{ inner: false }];
		let last = null; /* the atom a quantifier would apply to: 'atom' or a closed group */
		for (let i = 0; i < p.length; i++) {
			const c = p[i];
			if (c === '\\') { i++; last = 'atom'; continue; }
			if (c === '[') {
				for (i++; i < p.length && p[i] !== ']'; i++) if (p[i] === '\\') i++;
				last = 'atom';
				continue;
			}
			if (c === '(') {
				stack.push({ inner: false });
				if (p[i + 1] === '?') i += p[i + 2] === '<' && /[=!]/.test(p[i + 3] || '') ? 3 : 2;
				last = null;
				continue;
			}
			if (c === ')') {
				const g = stack.length > 1 ? stack.pop() : { inner: false };
				if (g.inner) stack[stack.length - 1].inner = true;
				last = g;
				continue;
			}
			if (c === '|') { stack[stack.length - 1].inner = true; last = null; continue; }
			if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d*,?\d*\}/.test(p.slice(i, i + 24)))) {
				let repeats = c !== '?';
				if (c === '{') {
					const m = /^\{(\d*)(,?)(\d*)\}/.exec(p.slice(i, i + 24));
					repeats = m[2] === ',' ? m[3] === '' || parseInt(m[3], 10) > 1 : parseInt(m[1] || '0', 10) > 1;
					i += m[0].length - 1;
				}
				if (last && typeof last === 'object' && last.inner && repeats) return true;
				stack[stack.length - 1].inner = true;
				if (p[i + 1] === '?' || p[i + 1] === '+') i++; /* lazy or possessive */
				last = null;
				continue;
			}
			last = c === '^' || c === '$' ? null : 'atom';
		}
		return false;
	}
	function regexOf(pattern) {
		const p = str(pattern);
		if (regexes.has(p)) return regexes.get(p);
		let re = null;
		if (!regexRisky(p)) {
			try { re = new RegExp(p, 'u'); } catch (e) {
				try { re = new RegExp(p); } catch (e2) { re = null; }
			}
		}
		regexes.set(p, re);
		return re;
	}
	/* next to a field whose pattern the page does not check */
	function regexNote(s) {
		const p = s.rules && s.rules.regexMatch;
		if (!p || s.immutable || regexOf(p)) return null;
		return h('div', { class: 'muted regex-note' }, 'The pattern ' + str(p).slice(0, 120) + ' is checked by the server only (' +
			(regexRisky(str(p)) ? 'it repeats a group holding a quantifier or an alternation: it could stall this page' : 'this browser cannot compile it') + ').');
	}
	function checkItem(s, v, what) {
		const r = s.rules || {};
		const t = baseType(s).type;
		const out = [];
		if (new TextEncoder().encode(v).length > VALUE_MAX) return [what + ' is over ' + VALUE_MAX + ' bytes'];
		if (t === 'integer') {
			if (!/^[-+]?\d+$/.test(v)) return [what + ' "' + v.slice(0, 40) + '" is not an integer'];
			const n = parseInt(v, 10);
			if (isNum(r.minValue) && n < r.minValue) out.push(what + ' ' + n + ' is below ' + r.minValue);
			if (isNum(r.maxValue) && n > r.maxValue) out.push(what + ' ' + n + ' is above ' + r.maxValue);
		} else if (t === 'double') {
			const prec = precisionOf(v);
			if (prec === null) return [what + ' "' + v.slice(0, 40) + '" is not a number'];
			const n = Number(v);
			if (isNum(r.minValue) && n < r.minValue) out.push(what + ' ' + v.slice(0, 40) + ' is below ' + g17(r.minValue));
			if (isNum(r.maxValue) && n > r.maxValue) out.push(what + ' ' + v.slice(0, 40) + ' is above ' + g17(r.maxValue));
			if (isNum(r.minPrecision) && prec < r.minPrecision)
				out.push(what + ' has ' + prec + ' digits after the point, fewer than ' + r.minPrecision);
			if (isNum(r.maxPrecision) && prec > r.maxPrecision)
				out.push(what + ' has ' + prec + ' digits after the point, more than ' + r.maxPrecision);
		} else if (t === 'boolean') {
			if (!/^(true|True|TRUE|false|False|FALSE)$/.test(v)) return [what + ' "' + v.slice(0, 40) + '" is not true or false'];
		} else {
			const len = Array.from(v).length;
			if (isNum(r.minLength) && len < r.minLength) out.push(what + ' has ' + len + ' characters, fewer than ' + r.minLength);
			if (isNum(r.maxLength) && len > r.maxLength) out.push(what + ' has ' + len + ' characters, more than ' + r.maxLength);
			if (r.regexMatch) {
				const re = regexOf(r.regexMatch);
				if (re && !re.test(v.slice(0, VALUE_MAX))) out.push(what + ' does not match ' + str(r.regexMatch).slice(0, 120));
			}
		}
		if (Array.isArray(r.options)) {
			const opts = r.options.map(str);
			const num = t === 'integer' || t === 'double';
			const found = opts.some((o) => o === v || (num && precisionOf(v) !== null && precisionOf(o) !== null && Number(o) === Number(v)));
			if (!found) out.push(what + ' "' + v.slice(0, 60) + '" is not one of the options');
		}
		return out;
	}
	/* The messages for value (a string, or an array for a multiselect or
	 * array type) against setting s: [] when it passes. */
	function check(s, value) {
		const r = s.rules || {};
		const list = Array.isArray(value);
		const items = list ? value.map(str) : [str(value)];
		if (!items.length || (!list && items[0] === '')) return r.allowEmpty ? [] : ['a value is required'];
		const bt = baseType(s);
		if (list && !bt.array && !r.multiselect) return ['one value expected, not a list'];
		if (!list && bt.array) return ['a list expected (' + str(s.dataType) + ')'];
		let out = [];
		items.forEach((v, i) => { out = out.concat(checkItem(s, v, list ? 'item ' + (i + 1) : 'the value')); });
		return out;
	}

	/* ---- pages ---- */
	function appIcon(a, big) {
		const src = own(a.icon || (a.resources && a.resources.icon));
		const cls = 'icon' + (big ? ' big' : '');
		if (src) return h('img', { class: cls, src: src, alt: '', loading: 'lazy' });
		return h('div', { class: cls + ' letter', 'aria-hidden': 'true' }, (str(a.name || a.repository).trim()[0] || '?').toUpperCase());
	}

	async function pageCatalog(my, params) {
		const t0 = performance.now();
		if (params.get('q') !== null) state.q = params.get('q');
		if (params.get('tag')) state.tags = new Set([params.get('tag')]);
		show(h('h1', null, 'Applications'), h('p', { class: 'muted' }, 'Loading the catalog…'));
		let list;
		try {
			list = await apps();
			window.ocimirrorTimings = Object.assign(window.ocimirrorTimings || {}, { catalogFetchMs: performance.now() - t0 });
		} catch (e) {
			if (my === seq) show(h('h1', null, 'Applications'), errorBox('catalog', e));
			return;
		}
		if (my !== seq) return;
		const counts = new Map();
		for (const a of list) for (const t of (a.tags || [])) counts.set(str(t), (counts.get(str(t)) || 0) + 1);
		const grid = h('div', { class: 'grid', id: 'app-grid' });
		const count = h('span', { class: 'muted', id: 'app-count' });
		const tagBar = h('div', { class: 'tags', id: 'tag-filter' });
		const search = h('input', {
			type: 'search', id: 'search', placeholder: 'Search name, organization, description, tag…',
			'aria-label': 'Search applications', value: state.q,
			oninput: () => { state.q = search.value; draw(); },
		});
		const cards = list.map((a) => {
			const orgs = orgNames(a.organization);
			const hay = [a.name, a.id, a.repository, a.tagline, a.description, orgs.join(' '), (a.tags || []).join(' ')]
				.map(str).join('\n').toLowerCase();
			const card = h('a', {
				class: 'card', href: '#/app?' + qs({ repo: a.repository, tag: a.tag || a.version }),
				'data-repo': a.repository,
			}, appIcon(a), h('div', { class: 'body' },
				h('h3', null, str(a.name || a.repository)),
				h('div', { class: 'muted' }, str(a.tagline)),
				orgs.length ? h('div', { class: 'org' }, orgs.join(', ')) : null,
				h('div', { class: 'muted small' }, [str(a.version), a.complete === false ? ' · incomplete' : '']),
				h('div', { class: 'tags' }, (a.tags || []).map((t) => h('span', { class: 'tag' }, str(t))))));
			return { a: a, card: card, hay: hay, tags: (a.tags || []).map(str) };
		});
		function drawTags() {
			clear(tagBar);
			for (const t of Array.from(counts.keys()).sort()) {
				tagBar.appendChild(h('button', {
					type: 'button', class: 'tag' + (state.tags.has(t) ? ' on' : ''), 'data-tag': t,
					'aria-pressed': state.tags.has(t) ? 'true' : 'false',
					onclick: () => { if (state.tags.has(t)) state.tags.delete(t); else state.tags.add(t); drawTags(); draw(); },
				}, t + ' (' + counts.get(t) + ')'));
			}
		}
		function draw() {
			const words = state.q.toLowerCase().split(/\s+/).filter(Boolean);
			clear(grid);
			let n = 0;
			const frag = document.createDocumentFragment();
			for (const c of cards) {
				if (!words.every((w) => c.hay.includes(w))) continue;
				let ok = true;
				for (const t of state.tags) if (!c.tags.includes(t)) ok = false;
				if (!ok) continue;
				frag.appendChild(c.card);
				n++;
			}
			grid.appendChild(frag);
			count.textContent = n + ' of ' + cards.length + ' applications';
			if (!n) grid.appendChild(h('p', { class: 'muted' }, 'No application matches.'));
		}
		drawTags();
		draw();
		show(h('h1', null, 'Applications'), h('div', { class: 'toolbar' }, search, count), counts.size ? tagBar : null, grid);
		const ms = performance.now() - t0;
		window.ocimirrorTimings = Object.assign(window.ocimirrorTimings || {}, { catalogMs: ms, catalogApps: list.length });
		view.setAttribute('data-loaded', 'catalog');
	}

	function resourcesOf(p) {
		const r = p.requiredResources;
		if (!r) return h('p', { class: 'muted' }, 'No required resources declared.');
		const dl = h('dl', { class: 'kv' });
		function row(k, v) { if (v !== '' && v !== null && v !== undefined) add(dl, [h('dt', null, k), h('dd', null, v)]); }
		if (r.cpu) {
			row('CPU cores', str(r.cpu.cores));
			row('Architectures', (r.cpu.architectures || []).join(', '));
		}
		row('Memory', str(r.memory));
		row('Storage', str(r.storage));
		if (r.peripherals && r.peripherals.length)
			row('Peripherals', r.peripherals.map((x) => [x.type, x.manufacturer, x.model].filter(Boolean).join(' ')).join('; '));
		if (r.interfaces && r.interfaces.length) row('Interfaces', r.interfaces.map((x) => str(x.type)).join(', '));
		return dl;
	}

	function profilePanel(a, p) {
		const comps = h('ul', { class: 'plain' });
		for (const c of (p.components || [])) {
			comps.appendChild(h('li', null,
				h('strong', null, str(c.name)), ' ', h('code', null, str(c.repository) + (c.revision ? ' @ ' + c.revision : '')), ' ',
				pill(c.present, 'present', 'missing'),
				(c.images && c.images.length) ? h('ul', null, c.images.map((im) =>
					h('li', null, h('code', null, str(im.ref)), ' ', pill(im.present, 'present', 'missing')))) : null));
		}
		const complete = p.complete === true;
		return h('section', { class: 'panel profile', 'data-profile': p.id },
			h('h3', null, str(p.id), ' ', h('span', { class: 'muted' }, '(' + str(p.type) + ')'), ' ',
				h('span', { class: 'pill ' + (complete ? 'ok' : 'warn') }, complete ? 'complete offline' : 'incomplete')),
			p.description ? h('p', null, str(p.description)) : null,
			!complete && p.missing && p.missing.length
				? h('div', null, h('strong', null, 'Missing: '), h('ul', { class: 'missing' }, p.missing.map((m) => h('li', null, str(m)))))
				: null,
			h('h4', null, 'Required resources'), resourcesOf(p),
			h('h4', null, 'Components'), comps,
			h('p', null, link('config', { repo: a.repository, tag: a.tag, profile: p.id }, 'Configure a deployment', 'button-link')));
	}

	async function fetchText(url) {
		const resp = await fetch(url, { credentials: 'same-origin' });
		if (!resp.ok) throw new Error('HTTP ' + resp.status);
		return resp.text();
	}

	async function pageApp(my, params) {
		const repo = params.get('repo'), tag = params.get('tag');
		show(h('p', { class: 'muted' }, 'Loading…'));
		let a;
		try {
			a = await api('app?' + qs({ repo: repo, tag: tag }));
		} catch (e) {
			/* without the detail endpoint, the catalog entry */
			let entry = null;
			try { entry = (await apps()).find((x) => x.repository === repo); } catch (e2) { entry = null; }
			if (my !== seq) return;
			if (!entry) { show(errorBox('application ' + str(repo), e)); return; }
			a = Object.assign({}, entry, { tag: entry.tag || entry.version, _partial: e.message });
		}
		if (my !== seq) return;
		a.tag = a.tag || tag || a.version;
		const orgs = Array.isArray(a.organization) ? a.organization : [];
		const res = a.resources || {};
		const desc = h('div', { id: 'description-file' });
		const notes = h('div', { id: 'release-notes' });
		const versions = h('ul', { class: 'plain', id: 'versions' },
			(a.versions || [a.tag]).map((v) => h('li', null, str(v) === str(a.tag)
				? h('strong', null, str(v) + ' (shown)') : link('app', { repo: a.repository, tag: v }, str(v)))));
		const side = h('aside', null,
			h('div', { class: 'panel' },
				h('h3', null, 'Versions'), versions,
				h('h3', null, 'Organization'),
				h('ul', { class: 'plain' }, orgs.map((o) => {
					const name = typeof o === 'string' ? o : str(o.name);
					const href = o && typeof o === 'object' ? safeHref(str(o.site)) : null;
					return h('li', null, href ? h('a', { href: href, rel: 'noopener noreferrer nofollow', target: '_blank' }, name) : name);
				})),
				(a.author && a.author.length) ? [h('h3', null, 'Authors'), h('ul', { class: 'plain' },
					a.author.map((x) => h('li', null, str(x.name), x.email ? ' <' + x.email + '>' : '')))] : null,
				safeHref(str(a.site)) ? h('p', null, h('a', { href: safeHref(a.site), rel: 'noopener noreferrer nofollow', target: '_blank' }, 'Web site')) : null,
				own(res.licenseFile) ? h('p', null, h('a', { href: own(res.licenseFile), id: 'license-link' }, 'License')) : null,
				h('p', null, link('device', { repo: a.repository, tag: a.tag }, 'Check a device against this version'))));
		show(h('div', { class: 'head' }, appIcon(a, true), h('div', null,
			h('h1', null, str(a.name || a.repository)),
			h('div', { class: 'muted' }, str(a.tagline)),
			h('div', { class: 'muted' }, h('code', null, str(a.repository) + ':' + str(a.tag)), a.id ? ' · ' + a.id : ''),
			h('div', { class: 'tags' }, (a.tags || []).map((t) => link('', { tag: t }, str(t), 'tag'))))),
		a._partial ? h('p', { class: 'muted' }, 'Details unavailable (' + a._partial + '); showing the catalog entry.') : null,
		h('div', { class: 'cols' }, h('div', null,
			a.description ? h('p', { id: 'app-description' }, str(a.description)) : null,
			desc,
			h('h2', null, 'Deployment profiles'),
			(a.profiles || []).map((p) => profilePanel(a, p)),
			notes), side));
		for (const [key, el, title] of [['descriptionFile', desc, 'Description'], ['releaseNotes', notes, 'Release notes']]) {
			const url = own(res[key]);
			if (!url) continue;
			fetchText(url).then((t) => {
				if (my !== seq) return;
				add(el, [h('h2', null, title), markdown(t)]);
				el.setAttribute('data-loaded', '1');
			}).catch((e) => add(el, errorBox(title, e)));
		}
		view.setAttribute('data-loaded', 'app');
	}

	async function pageRepos(my) {
		show(h('h1', null, 'Repositories'), h('p', { class: 'muted' }, 'Loading…'));
		let list;
		try { list = await api('repos'); } catch (e) { if (my === seq) show(h('h1', null, 'Repositories'), errorBox('repositories', e)); return; }
		if (my !== seq) return;
		const body = h('tbody');
		for (const r of list || [])
			for (const t of (r.tags || [{}])) {
				body.appendChild(h('tr', null,
					h('td', null, h('code', null, str(r.repository))),
					h('td', null, str(t.tag)),
					h('td', null, (t.platforms || []).join(', ')),
					h('td', null, size(t.size)),
					h('td', null, str(t.signatures || 0)),
					h('td', null, str(t.sboms || 0)),
					h('td', null, str(t.referrers || 0)),
					h('td', null, h('code', { title: str(t.digest) }, str(t.digest).slice(0, 19)), h('div', { class: 'muted' }, str(t.mediaType)))));
			}
		show(h('h1', null, 'Repositories'), h('div', { class: 'scroll' }, h('table', { id: 'repos' },
			h('thead', null, h('tr', null, ['Repository', 'Tag', 'Platforms', 'Size', 'Signatures', 'SBOMs', 'Referrers', 'Digest'].map((x) => h('th', null, x)))),
			body)));
	}

	function appPicker(list, repo, tag, onpick) {
		const sel = h('select', { id: 'app-pick', 'aria-label': 'Application', onchange: () => onpick(sel.value) },
			h('option', { value: '' }, '— choose an application —'),
			list.map((a) => h('option', { value: a.repository + '\n' + (a.tag || a.version), selected: a.repository === repo },
				str(a.name || a.repository) + ' ' + str(a.version))));
		return sel;
	}

	async function pageDevice(my, params) {
		const repo = params.get('repo'), tag = params.get('tag');
		let list = [];
		try { list = await apps(); } catch (e) { list = []; }
		if (my !== seq) return;
		const out = h('div', { id: 'match-result' });
		const text = h('textarea', { id: 'device-text', class: 'code', spellcheck: 'false',
			placeholder: 'Paste a DeviceCapabilitiesManifest (YAML or JSON)…', 'aria-label': 'Device capabilities manifest' });
		const file = h('input', { type: 'file', id: 'device-file', accept: '.yaml,.yml,.json,application/json,application/yaml',
			onchange: () => { const f = file.files[0]; if (f) f.text().then((t) => { text.value = t; stored.value = ''; }); } });
		const stored = h('select', { id: 'device-stored', 'aria-label': 'Stored device' }, h('option', { value: '' }, '— a pasted or uploaded file —'));
		const storedNote = h('span', { class: 'muted' });
		api('devices').then((ds) => {
			for (const d of ds || [])
				stored.appendChild(h('option', { value: d.name }, str(d.name) + (d.id ? ' (' + d.id + ')' : '') +
					(d.architecture ? ' · ' + d.architecture : '') + (d.cores ? ' · ' + d.cores + ' cores' : '')));
			if (!(ds || []).length) storedNote.textContent = 'No stored devices (ocimirror app device add FILE).';
		}).catch((e) => { storedNote.textContent = 'Stored devices unavailable: ' + e.message; });
		const go = h('button', { type: 'submit', id: 'match-go' }, 'Check');
		const form = h('form', { id: 'device-form', onsubmit: async (ev) => {
			ev.preventDefault();
			clear(out);
			const pick = params.get('repo') ? { repo: repo, tag: tag } : null;
			if (!pick) { out.appendChild(errorBox('check', 'choose an application first')); return; }
			if (!stored.value && !text.value.trim()) { out.appendChild(errorBox('check', 'paste, upload or pick a device')); return; }
			go.disabled = true;
			try {
				const q = qs({ repo: pick.repo, tag: pick.tag, device: stored.value || null });
				const res = await api('match?' + q, stored.value ? { method: 'POST' } : {
					method: 'POST', body: text.value,
					headers: { 'Content-Type': /^\s*[{[]/.test(text.value) ? 'application/json' : 'application/yaml' } });
				if (res.device && res.device.id) state.deviceId = str(res.device.id);
				out.appendChild(h('h2', null, 'Device ', h('code', null, str(res.device && (res.device.name || res.device.id)))));
				for (const p of res.profiles || [])
					out.appendChild(h('div', { class: 'panel match', 'data-profile': p.id, 'data-fits': p.fits ? 'true' : 'false' },
						h('h3', null, str(p.id), ' ', h('span', { class: 'muted' }, '(' + str(p.type) + ')'), ' ', pill(p.fits, 'fits', 'does not fit')),
						(p.reasons && p.reasons.length) ? h('ul', { class: 'reasons' }, p.reasons.map((x) => h('li', null, str(x)))) : null,
						p.fits ? h('p', null, link('config', { repo: pick.repo, tag: pick.tag, profile: p.id, deviceId: state.deviceId }, 'Configure a deployment')) : null));
			} catch (e) {
				const errs = e.body && Array.isArray(e.body.errors) ? e.body.errors.map((x) => (typeof x === 'string' ? x : str(x.message))) : [];
				out.appendChild(h('div', { class: 'errbox', role: 'alert', id: 'match-error' },
					errs.length > 1 ? ['HTTP ' + e.status + ': the device was refused', h('ul', null, errs.map((x) => h('li', null, x)))] : e.message));
			} finally { go.disabled = false; }
		} },
		h('div', { class: 'field' }, h('label', { for: 'app-pick' }, 'Application'),
			appPicker(list, repo, tag, (v) => { const [r, t] = v.split('\n'); location.hash = '#/device?' + qs({ repo: r, tag: t }); })),
		h('div', { class: 'field' }, h('label', { for: 'device-stored' }, 'Stored device'), stored, ' ', storedNote),
		h('div', { class: 'field' }, h('label', { for: 'device-text' }, 'Or a device file'), file, text),
		go);
		show(h('h1', null, 'Device check'), repo ? h('p', { class: 'muted' }, 'Against ', h('code', null, repo + ':' + str(tag))) : null, form, out);
		view.setAttribute('data-loaded', 'device');
	}

	function settingInput(s, id) {
		const r = s.rules || {};
		const bt = baseType(s), t = bt.type;
		const def = s.default;
		if (Array.isArray(r.options) && r.options.length && r.multiselect) {
			const defs = Array.isArray(def) ? def.map(str) : (def === undefined || def === null ? [] : [str(def)]);
			const box = h('div', { class: 'multi', id: id, role: 'group' },
				r.options.map((o, k) => h('label', null, h('input', { type: 'checkbox', value: str(o), checked: defs.includes(str(o)),
					disabled: !!s.immutable, id: id + '-' + k }), ' ' + str(o))));
			box.getValue = () => Array.from(box.querySelectorAll('input:checked')).map((x) => x.value);
			return box;
		}
		if (Array.isArray(r.options) && r.options.length) {
			const sel = h('select', { id: id, disabled: !!s.immutable },
				r.allowEmpty || def === undefined || def === null ? h('option', { value: '' }, '') : null,
				r.options.map((o) => h('option', { value: str(o), selected: str(o) === str(def) }, str(o))));
			if (def === undefined || def === null) sel.value = '';
			sel.getValue = () => sel.value;
			return sel;
		}
		if (baseType(s).type === 'boolean') {
			const cb = h('input', { type: 'checkbox', id: id, checked: def === true || def === 'true', disabled: !!s.immutable });
			cb.getValue = () => (cb.checked ? 'true' : 'false');
			return cb;
		}
		if (bt.array) { /* a list: comma-separated */
			const inp = h('input', { type: 'text', id: id, value: Array.isArray(def) ? def.map(str).join(', ') : str(def),
				readOnly: !!s.immutable, spellcheck: 'false', autocomplete: 'off', placeholder: 'values separated by commas' });
			inp.getValue = () => inp.value.split(',').map((x) => x.trim()).filter((x) => x !== '');
			return inp;
		}
		const inp = h('input', { type: 'text', id: id, value: str(def), readOnly: !!s.immutable, spellcheck: 'false',
			inputmode: t === 'integer' ? 'numeric' : (t === 'double' ? 'decimal' : null), autocomplete: 'off' });
		inp.getValue = () => inp.value;
		return inp;
	}

	async function pageConfig(my, params) {
		const repo = params.get('repo'), tag = params.get('tag'), profile = params.get('profile');
		show(h('h1', null, 'Configure'), h('p', { class: 'muted' }, 'Loading…'));
		let cfg;
		try { cfg = await api('config?' + qs({ repo: repo, tag: tag, profile: profile })); } catch (e) {
			if (my === seq) show(h('h1', null, 'Configure'), errorBox('configuration', e));
			return;
		}
		if (my !== seq) return;
		const fields = []; /* {s, input, err, box} */
		const byParam = new Map();
		function validate(f) {
			const msg = f.s.immutable ? '' : check(f.s, f.input.getValue()).join('; ');
			f.err.textContent = msg;
			f.box.classList.toggle('invalid', !!msg);
			return !msg;
		}
		const sections = (cfg.sections || []).map((sec, si) => h('fieldset', { class: 'section' },
			h('legend', null, str(sec.name)),
			sec.description ? h('p', { class: 'muted' }, str(sec.description)) : null,
			(sec.settings || []).map((s, k) => {
				const id = 'set-' + si + '-' + k;
				const input = settingInput(s, id);
				const err = h('div', { class: 'err', id: id + '-err', role: 'alert', 'aria-live': 'polite' });
				const box = h('div', { class: 'field', 'data-parameter': s.parameter },
					h('label', { for: id }, str(s.name || s.parameter), s.immutable ? h('span', { class: 'muted' }, ' (read-only)') : null),
					s.description ? h('div', { class: 'desc' }, str(s.description)) : null,
					input, regexNote(s), err);
				const f = { s: s, input: input, err: err, box: box };
				fields.push(f);
				if (!byParam.has(s.parameter)) byParam.set(s.parameter, f);
				input.addEventListener('input', () => validate(f));
				input.addEventListener('change', () => validate(f));
				return box;
			})));
		const devId = h('input', { type: 'text', id: 'deploy-device', value: params.get('deviceId') || state.deviceId, autocomplete: 'off' });
		const name = h('input', { type: 'text', id: 'deploy-name', autocomplete: 'off' });
		const ns = h('input', { type: 'text', id: 'deploy-namespace', autocomplete: 'off' });
		const devErr = h('div', { class: 'err', id: 'deploy-device-err' });
		const out = h('div', { id: 'deploy-result' });
		const go = h('button', { type: 'submit', id: 'deploy-go' }, 'Create the deployment');
		const form = h('form', { id: 'config-form', novalidate: true, onsubmit: async (ev) => {
			ev.preventDefault();
			clear(out);
			let ok = true;
			for (const f of fields) ok = validate(f) && ok;
			devErr.textContent = devId.value.trim() ? '' : 'a device id is needed';
			if (!devId.value.trim()) ok = false;
			if (!ok) { out.appendChild(h('div', { class: 'errbox', role: 'alert' }, 'Fix the fields marked above.')); return; }
			const values = {};
			for (const f of fields) if (!f.s.immutable && !(f.s.parameter in values)) values[f.s.parameter] = f.input.getValue();
			const body = { values: values };
			if (name.value.trim()) body.name = name.value.trim();
			if (ns.value.trim()) body.namespace = ns.value.trim();
			go.disabled = true;
			try {
				const resp = await fetch(API + 'deploy?' + qs({ repo: repo, tag: tag, profile: profile, deviceId: devId.value.trim() }), {
					method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
				const type = resp.headers.get('Content-Type') || '';
				if (!resp.ok) {
					const j = type.includes('json') ? await resp.json().catch(() => null) : null;
					const errs = j && Array.isArray(j.errors) ? j.errors : [];
					const general = [];
					for (const x of errs) {
						const f = x && typeof x === 'object' && x.parameter ? byParam.get(x.parameter) : null;
						const msg = typeof x === 'string' ? x : str(x.message || x.rule);
						if (f) { f.err.textContent = msg; f.box.classList.add('invalid'); } else general.push(msg);
					}
					out.appendChild(h('div', { class: 'errbox', role: 'alert', id: 'deploy-error' }, 'The server refused the deployment (HTTP ' + resp.status + ')',
						general.length ? h('ul', null, general.map((m) => h('li', null, m))) : null));
					return;
				}
				const yaml = await resp.text();
				const fname = (body.name || str(profile) || 'deployment') + '.yaml';
				const url = URL.createObjectURL(new Blob([yaml], { type: 'application/yaml' }));
				const a = h('a', { href: url, download: fname, id: 'deploy-download' }, 'Download ' + fname);
				out.appendChild(h('div', { class: 'panel' }, h('p', null, h('span', { class: 'pill ok' }, 'ready'), ' ', a),
					h('pre', { id: 'deploy-yaml' }, h('code', { text: yaml }))));
				a.click();
			} catch (e) {
				out.appendChild(errorBox('deploy', e));
			} finally { go.disabled = false; }
		} },
		h('fieldset', null, h('legend', null, 'Deployment'),
			h('div', { class: 'row' },
				h('div', { class: 'field' }, h('label', { for: 'deploy-device' }, 'Device id'), devId, devErr),
				h('div', { class: 'field' }, h('label', { for: 'deploy-name' }, 'Name (optional)'), name),
				h('div', { class: 'field' }, h('label', { for: 'deploy-namespace' }, 'Namespace (optional)'), ns))),
		sections, go);
		show(h('h1', null, 'Configure ', h('code', null, str(cfg.profile || profile))),
			h('p', { class: 'muted' }, link('app', { repo: repo, tag: tag }, repo + ':' + str(tag))),
			fields.length ? null : h('p', { class: 'muted' }, 'This profile has no settings.'),
			form, out);
		view.setAttribute('data-loaded', 'config');
	}

	function syncLine(s) {
		if (!s || !s.last) return 'never synced';
		return 'last sync ' + str(s.last.result) + ' ' + str(s.last.finished || s.last.started);
	}
	async function pageSync(my) {
		show(h('h1', null, 'Last sync'), h('p', { class: 'muted' }, 'Loading…'));
		let s;
		try { s = await api('sync'); } catch (e) { if (my === seq) show(h('h1', null, 'Last sync'), errorBox('sync status', e)); return; }
		if (my !== seq) return;
		const l = s && s.last;
		show(h('h1', null, 'Last sync'), l ? h('div', { class: 'panel', id: 'sync-last' },
			h('dl', { class: 'kv' }, [['Result', l.result], ['Started', l.started], ['Finished', l.finished], ['Added', l.added],
				['Updated', l.updated], ['Unchanged', l.unchanged], ['Failed', l.failed], ['Last success', s.lastSuccess || 'never']]
				.map(([k, v]) => [h('dt', null, k), h('dd', null, str(v))])),
			(l.failures && l.failures.length) ? [h('h3', null, 'Failures'), h('ul', null, l.failures.map((f) => h('li', null, str(f))))] : null)
			: h('p', { id: 'sync-last' }, 'This store has not been synced yet.'));
	}

	const pages = { '': pageCatalog, repos: pageRepos, app: pageApp, device: pageDevice, config: pageConfig, sync: pageSync };

	function route() {
		const my = ++seq;
		const hash = location.hash.replace(/^#\/?/, '');
		const qi = hash.indexOf('?');
		const name = qi < 0 ? hash : hash.slice(0, qi);
		const params = new URLSearchParams(qi < 0 ? '' : hash.slice(qi + 1));
		view.removeAttribute('data-loaded');
		for (const a of document.querySelectorAll('[data-nav]'))
			a.classList.toggle('active', a.getAttribute('data-nav') === (name || 'catalog') ||
				(name === 'app' && a.getAttribute('data-nav') === 'catalog'));
		const page = pages[name] || pageCatalog;
		window.scrollTo(0, 0);
		page(my, params).catch((e) => { if (my === seq) show(errorBox('page', e)); });
	}

	window.addEventListener('hashchange', route);
	route();
	api('sync').then((s) => {
		const b = document.getElementById('sync-badge');
		b.textContent = syncLine(s);
		b.classList.toggle('bad', !!(s && s.last && s.last.result && s.last.result !== 'ok' && s.last.result !== 'success'));
		b.hidden = false;
	}).catch(() => {});
	/* for the tests: the Markdown renderer and the rules, as pure functions */
	window.ocimirrorUi = { markdown: markdown, check: check, own: own };
})();
