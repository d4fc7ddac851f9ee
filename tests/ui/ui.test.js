// The browser test of the ocimirror web UI, run by tests/e2e/test_ui.sh:
//     node ui.test.js CONFIG.json
// CONFIG: {url, shots, out, device, hostileMarkdown, apps, chromium}.
// Drives Debian's chromium (headless) through playwright-core and writes
// CONFIG.out: {steps: {NAME: {status: ok|fail|skip, detail}}, timings},
// or {launchFailed: MESSAGE} when chromium does not start (test_ui.sh
// then skips every case naming it).
// Each step asserts on values; a step whose endpoint the server does not
// have yet ends "skip" naming it. test_ui.sh turns each step into a case.
'use strict';

const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const result = { steps: {}, timings: {}, console: [] };

class Skip extends Error {}
function assert(cond, msg) {
	if (!cond) throw new Error(msg);
}
function eq(want, got, what) {
	if (JSON.stringify(want) !== JSON.stringify(got))
		throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
}

async function step(name, fn) {
	try {
		const detail = await fn();
		result.steps[name] = { status: 'ok', detail: detail || '' };
	} catch (e) {
		result.steps[name] = e instanceof Skip ? { status: 'skip', detail: e.message }
			: { status: 'fail', detail: String(e && e.message ? e.message : e).split('\n')[0] };
	}
	fs.writeFileSync(cfg.out, JSON.stringify(result, null, 1));
}

async function main() {
	let browser;
	try {
		browser = await chromium.launch({
			executablePath: cfg.chromium || '/usr/bin/chromium',
			args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
			timeout: 30000,
		});
	} catch (e) {
		const lines = String(e && e.message ? e.message : e).replace(/\x1b\[[0-9;]*m/g, '').split('\n')
			.map((l) => l.replace(/^[\s-]+/, '').trim()).filter(Boolean);
		// the first line and the browser's exit or error line
		const why = lines.slice(1).reverse().find((l) => /exitCode|exited|error|signal/i.test(l) && !/^<launching>/.test(l));
		result.launchFailed = (lines[0] + (why ? ' … ' + why : '')).slice(0, 240);
		fs.writeFileSync(cfg.out, JSON.stringify(result, null, 1));
		return;
	}
	const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
	const page = await context.newPage();
	page.on('console', (m) => result.console.push(m.type() + ': ' + m.text()));
	page.on('pageerror', (e) => result.console.push('pageerror: ' + e.message));
	let shot = 0;
	async function snap(name, p) {
		shot++;
		const file = path.join(cfg.shots, String(shot).padStart(2, '0') + '-' + name + '.png');
		await (p || page).screenshot({ path: file, fullPage: true });
	}
	async function waitLoaded(kind, p) {
		await (p || page).waitForSelector(`#view[data-loaded="${kind}"], #view .errbox`, { timeout: 15000 });
		const err = await (p || page).$('#view .errbox');
		if (err) {
			const t = await err.textContent();
			if (/HTTP 404|HTTP 405/.test(t)) throw new Skip(t.trim());
			throw new Error(t.trim());
		}
	}
	const base = cfg.url.replace(/\/$/, '');

	await step('headers', async () => {
		const resp = await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
		const h = resp.headers();
		assert(h['content-security-policy'] && h['content-security-policy'].includes("default-src 'self'"), 'CSP on /: ' + h['content-security-policy']);
		eq('nosniff', h['x-content-type-options'], 'nosniff');
		assert(/^text\/html/.test(h['content-type']), 'content type ' + h['content-type']);
	});

	await step('catalog', async () => {
		const t0 = Date.now();
		await page.goto(base + '/#/', { waitUntil: 'domcontentloaded' });
		await waitLoaded('catalog');
		const ms = Date.now() - t0;
		const inPage = await page.evaluate(() => window.ocimirrorTimings);
		result.timings.catalogLoadMs = ms;
		result.timings.catalogRenderMs = inPage && Math.round(inPage.catalogMs);
		result.timings.catalogApps = inPage && inPage.catalogApps;
		result.timings.catalogFetchMs = inPage && Math.round(inPage.catalogFetchMs);
		const n = await page.locator('#app-grid a.card').count();
		eq(cfg.apps, n, 'cards');
		eq(`${cfg.apps} of ${cfg.apps} applications`, (await page.textContent('#app-count')).trim(), 'count line');
		await snap('catalog');
		return `${n} cards in ${ms} ms (page) / ${result.timings.catalogRenderMs} ms (fetch+render, of which fetch ${result.timings.catalogFetchMs} ms)`;
	});

	await step('search', async () => {
		await page.fill('#search', 'weather');
		eq(['apps/weather'], await page.$$eval('#app-grid a.card', (a) => a.map((x) => x.dataset.repo)), 'search "weather"');
		await page.fill('#search', 'globex');
		const globex = await page.locator('#app-grid a.card').count();
		assert(globex > 10 && globex < cfg.apps, 'search by organization "globex": ' + globex);
		await page.fill('#search', 'no-such-thing-at-all');
		eq(0, await page.locator('#app-grid a.card').count(), 'search with no match');
		await page.fill('#search', 'weather');
		await snap('search');
		return `globex: ${globex} cards`;
	});

	await step('tag filter', async () => {
		await page.fill('#search', '');
		if (!(await page.$('#tag-filter button[data-tag="sensors"]')))
			throw new Skip('GET /ocimirror/v1/apps gives no catalog tags');
		await page.click('#tag-filter button[data-tag="sensors"]');
		eq(['apps/weather'], await page.$$eval('#app-grid a.card', (a) => a.map((x) => x.dataset.repo)), 'tag sensors');
		await snap('tag-filter');
		await page.click('#tag-filter button[data-tag="sensors"]');
	});

	let haveApp = false;
	await step('application page', async () => {
		await page.fill('#search', 'weather');
		await page.click('#app-grid a.card[data-repo="apps/weather"]');
		await waitLoaded('app');
		eq('Weather Station', (await page.textContent('#view h1')).trim(), 'title');
		eq(2, await page.locator('section.profile').count(), 'profiles');
		const ids = await page.$$eval('section.profile', (s) => s.map((x) => x.dataset.profile));
		eq(['edge-arm64', 'big-amd64'], ids, 'profile ids');
		assert((await page.textContent('#versions')).includes('2.1.0'), 'versions list has 2.1.0');
		const partial = await page.$('text=Details unavailable');
		if (partial) {
			await snap('application-partial');
			return 'catalog entry only: the description file, release notes and license need GET /ocimirror/v1/app';
		}
		haveApp = true;
		await page.waitForSelector('#description-file[data-loaded]', { timeout: 10000 });
		await page.waitForSelector('#release-notes[data-loaded]', { timeout: 10000 });
		eq('Weather Station', (await page.textContent('#description-file .md h1')).trim(), 'markdown heading');
		eq('temperature', (await page.textContent('#description-file .md strong')).trim(), 'bold');
		eq('humidity', (await page.textContent('#description-file .md em')).trim(), 'em');
		eq(['Local dashboard', 'Export to the docs', 'Works offline'], await page.$$eval('#description-file ul li', (l) => l.map((x) => x.textContent)), 'list');
		eq(2, await page.locator('#description-file ol li').count(), 'ordered list');
		eq('https://weather.example.com/docs', await page.getAttribute('#description-file a', 'href'), 'link');
		assert(await page.$('#license-link'), 'license link');
		const req = await page.textContent('section.profile[data-profile="edge-arm64"]');
		assert(req.includes('512Mi') && req.includes('arm64'), 'required resources shown');
		assert(/complete offline|incomplete/.test(req), 'completeness shown');
		await snap('application');
	});

	await step('markdown is inert', async () => {
		let live = false;
		if (haveApp) {
			await page.goto(base + '/#/app?repo=apps%2Fhostile&tag=1.0.0');
			await waitLoaded('app').catch(() => {});
			live = !!(await page.waitForSelector('#description-file[data-loaded]', { timeout: 10000 }).catch(() => null));
		}
		if (!live) {
			// without the resource endpoint: the same renderer over the same file
			await page.goto(base + '/#/');
			await waitLoaded('catalog');
			await page.evaluate((md) => {
				const v = document.getElementById('view');
				const d = document.createElement('div');
				d.id = 'description-file';
				d.appendChild(window.ocimirrorUi.markdown(md));
				v.insertBefore(d, v.firstChild);
			}, cfg.hostileMarkdown);
		}
		await page.waitForTimeout(300);
		eq(undefined, await page.evaluate(() => window.__pwned), 'window.__pwned (a script ran)');
		eq(0, await page.locator('#view script, #view img[onerror], #view [onerror]').count(), 'script or handler elements');
		eq(0, await page.locator('a[href^="javascript:"], a[href^="data:"]').count(), 'javascript:/data: links');
		const text = await page.textContent('#description-file');
		assert(text.includes('<script>window.__pwned = 1</script>'), 'the <script> shown as text');
		eq(['bad link', 'data link'], await page.$$eval('#description-file .dead-link', (s) => s.map((x) => x.textContent)), 'dead links');
		eq('https://good.example.com/', await page.getAttribute('#description-file a', 'href'), 'good link kept');
		if (live) {
			const tagline = await page.textContent('#view .head .muted');
			eq('<b>not bold</b>', tagline.trim(), 'tagline as text');
			eq(0, await page.locator('#view .head b').count(), 'no <b> element');
		}
		await snap('markdown-inert');
		return live ? 'served description file' : 'renderer over the file (no GET /ocimirror/v1/app)';
	});

	await step('markdown size bounds', async () => {
		// the hostile app's release notes: a dead link, then 100 KB of "["
		// in one paragraph (the renderer's scans would cost n*n)
		await page.goto(base + '/#/app?repo=apps%2Fhostile&tag=1.0.0');
		await waitLoaded('app');
		await page.waitForSelector('#release-notes[data-loaded]', { timeout: 10000 });
		eq('(over 8 KiB: shown as plain text) ', await page.textContent('#release-notes .md-plain .md-cut'), 'the note on the long paragraph');
		const plain = await page.textContent('#release-notes .md-plain');
		assert(plain.includes('['.repeat(100000)), 'the 100 KB paragraph shown as text (' + plain.length + ' characters)');
		eq(['click'], await page.$$eval('#release-notes .dead-link', (s) => s.map((x) => x.textContent)), 'the short paragraph still rendered');
		const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		eq(0, Math.max(0, over), 'horizontal overflow');
		await snap('markdown-size');
		// past 256 KiB the file is plain text; the renderer over 300 KB
		const cut = await page.evaluate(() => {
			const el = window.ocimirrorUi.markdown('# Big\n\n' + 'word *em*\n\n'.repeat(30000));
			const rest = el.querySelector('pre.md-rest');
			return { h1: el.querySelector('h1').textContent, ems: el.querySelectorAll('em').length,
				note: el.querySelector('p.md-cut').textContent, rest: rest ? rest.textContent.length : -1 };
		});
		eq('Big', cut.h1, 'heading before the cut');
		eq(23830, cut.ems, 'paragraphs rendered up to 256 KiB');
		eq('The file is over 256 KiB: the remaining 66.3 KiB are shown as plain text.', cut.note, 'the cut note');
		eq(330007 - 262137, cut.rest, 'the rest as text');
	});

	await step('own URLs only', async () => {
		const origin = new URL(base).origin;
		eq([null, null, null, null, null, origin + '/ocimirror/v1/resource?repo=a&path=i.png', origin + '/x'],
			await page.evaluate(() => ['/\\evil.example.com/i.png', '/\t/evil.example.com/i.png', '//evil.example.com/i.png',
				'https://evil.example.com/i.png', 'javascript:alert(1)', '/ocimirror/v1/resource?repo=a&path=i.png', 'x']
				.map((u) => window.ocimirrorUi.own(u))), 'own()');
	});

	let deviceId = '';
	await step('device check', async () => {
		await page.goto(base + '/#/device?repo=apps%2Fweather&tag=2.1.0');
		await waitLoaded('device');
		await page.fill('#device-text', cfg.device);
		await page.click('#match-go');
		await page.waitForSelector('#match-result .match, #match-result .errbox', { timeout: 15000 });
		const err = await page.$('#match-result .errbox');
		if (err) {
			const t = (await err.textContent()).trim();
			await snap('device-check-missing');
			if (/HTTP 404|HTTP 405/.test(t)) throw new Skip('POST /ocimirror/v1/match: ' + t);
			throw new Error(t);
		}
		const got = await page.$$eval('#match-result .match', (m) => m.map((x) => ({
			id: x.dataset.profile, fits: x.dataset.fits === 'true',
			reasons: Array.from(x.querySelectorAll('.reasons li')).map((l) => l.textContent) })));
		eq(['edge-arm64', 'big-amd64'], got.map((x) => x.id), 'profiles');
		eq([true, false], got.map((x) => x.fits), 'fits');
		assert(got[1].reasons.length > 0, 'reasons for big-amd64');
		assert(got[1].reasons.join(' ').match(/amd64|architecture/i), 'a reason names the architecture: ' + got[1].reasons.join('; '));
		await snap('device-check');
		deviceId = cfg.deviceId;
		return 'big-amd64: ' + got[1].reasons.join('; ');
	});

	await step('device check refuses a non-device file', async () => {
		await page.goto(base + '/#/device?repo=apps%2Fweather&tag=2.1.0');
		await waitLoaded('device');
		await page.fill('#device-text', 'apiVersion: margo.org/v1-alpha1\nkind: ApplicationDescription\n');
		await page.click('#match-go');
		await page.waitForSelector('#match-result .errbox, #match-result .match', { timeout: 15000 });
		const t = ((await page.textContent('#match-result')) || '').trim();
		if (/HTTP 404|HTTP 405/.test(t)) throw new Skip('POST /ocimirror/v1/match: ' + t);
		assert(/HTTP 400/.test(t), 'a 400 shown: ' + t);
		await snap('device-check-refused');
	});

	async function invalidValues(shotName) {
		await waitLoaded('config');
		const field = (p) => `.field[data-parameter="${p}"]`;
		const input = (p) => `${field(p)} input, ${field(p)} select`;
		async function msg(p, value) {
			await page.fill(`${field(p)} input`, value);
			return ((await page.textContent(`${field(p)} .err`)) || '').trim();
		}
		eq('north-field', await page.inputValue(input('siteName')), 'default pre-filled');
		eq('60', await page.inputValue(input('interval')), 'integer default');
		eq('the value has 2 characters, fewer than 3', await msg('siteName', 'ab'), 'minLength');
		eq('the value has 21 characters, more than 20', await msg('siteName', 'a'.repeat(21)), 'maxLength');
		eq('the value does not match ^[a-z0-9-]+$', await msg('siteName', 'bad name'), 'regexMatch');
		eq('the value has 1 characters, fewer than 3; the value does not match ^[a-z0-9-]+$', await msg('siteName', 'A'), 'two rules');
		eq('a value is required', await msg('siteName', ''), 'allowEmpty');
		eq('the value "1.5" is not an integer', await msg('interval', '1.5'), 'integer');
		eq('the value 5 is below 10', await msg('interval', '5'), 'minValue');
		eq('the value 4000 is above 3600', await msg('interval', '4000'), 'maxValue');
		eq('the value "abc" is not a number', await msg('offset', 'abc'), 'double');
		eq('the value has 0 digits after the point, fewer than 1', await msg('offset', '1'), 'minPrecision');
		eq('the value has 3 digits after the point, more than 2', await msg('offset', '1.125'), 'maxPrecision');
		eq('the value -5.5 is below -5', await msg('offset', '-5.5'), 'double minValue');
		eq(['metric', 'imperial'], await page.$$eval(`${field('units')} option`, (o) => o.map((x) => x.value)), 'options');
		const ro = await page.$eval(`${field('vendorKey')} input`, (x) => [x.readOnly, x.value]);
		eq([true, 'WX-1'], ro, 'immutable read-only with its default');
		await page.click('#deploy-go');
		await page.waitForSelector('#deploy-result .errbox');
		eq('Fix the fields marked above.', (await page.textContent('#deploy-result')).trim(), 'refused locally');
		eq(3, await page.locator('.field.invalid').count(), 'fields marked');
		await snap(shotName);
	}

	const configUrl = base + '/#/config?repo=apps%2Fweather&tag=2.1.0&profile=edge-arm64';
	let haveConfig = false;
	await step('form: invalid values', async () => {
		await page.goto(configUrl + (deviceId ? '&deviceId=' + deviceId : ''));
		await waitLoaded('config');
		haveConfig = true;
		await invalidValues('form-invalid');
	});

	await step('form: valid values and download', async () => {
		if (!haveConfig) throw new Skip('GET /ocimirror/v1/config not available');
		const a = cfg.answers;
		const field = (p) => `.field[data-parameter="${p}"]`;
		await page.fill(`${field('siteName')} input`, a.siteName);
		await page.fill(`${field('interval')} input`, a.interval);
		await page.fill(`${field('offset')} input`, a.offset);
		await page.selectOption(`${field('units')} select`, a.units);
		eq(0, await page.locator('.field.invalid').count(), 'no field marked');
		await page.fill('#deploy-device', cfg.deviceId);
		await page.fill('#deploy-name', cfg.name);
		const dl = page.waitForEvent('download', { timeout: 15000 });
		await page.click('#deploy-go');
		await page.waitForSelector('#deploy-result .panel, #deploy-result .errbox', { timeout: 15000 });
		const err = await page.$('#deploy-result .errbox');
		if (err) {
			const t = (await err.textContent()).trim();
			await snap('form-server-refused');
			if (/HTTP 404|HTTP 405/.test(t)) throw new Skip('POST /ocimirror/v1/deploy: ' + t);
			throw new Error(t + ' ' + (await page.$$eval('.field .err', (e) => e.map((x) => x.textContent).filter(Boolean).join('; '))));
		}
		const d = await dl;
		await d.saveAs(cfg.download);
		eq(cfg.name + '.yaml', d.suggestedFilename(), 'file name');
		await snap('form-downloaded');
	});

	await step('form: server errors per field', async () => {
		// the server's answer for refused values (api_deploy's shape),
		// stubbed: its rules are the page's, so no real answer differs
		const body = { errors: [
			{ parameter: 'siteName', setting: 'Site name', rule: 'regexMatch', message: 'the value does not match ^[a-z0-9-]+$ (server)' },
			{ parameter: 'nosuch', setting: null, rule: 'parameter', message: 'no parameter nosuch' }] };
		await page.route('**/ocimirror/v1/deploy?*', (r) => r.fulfill({ status: 400, contentType: 'application/json', body: JSON.stringify(body) }));
		if (!haveConfig) throw new Skip('GET /ocimirror/v1/config not available');
		await page.goto(base + '/#/');
		await page.goto(configUrl + '&deviceId=' + cfg.deviceId);
		await waitLoaded('config');
		await page.click('#deploy-go');
		await page.waitForSelector('#deploy-result .errbox');
		eq('the value does not match ^[a-z0-9-]+$ (server)', (await page.textContent('.field[data-parameter="siteName"] .err')).trim(), 'the field\'s message');
		eq(['no parameter nosuch'], await page.$$eval('#deploy-error li', (l) => l.map((x) => x.textContent)), 'the others under the form');
		assert((await page.textContent('#deploy-error')).includes('HTTP 400'), 'the status shown');
		await snap('form-server-errors');
		await page.unroute('**/ocimirror/v1/deploy?*');
	});

	await step('form: a pattern that could stall the page', async () => {
		// apps/weather's configuration with siteName's regexMatch made
		// (a+)+$: backtracking it over "aaaa...!" would freeze the tab
		if (!haveConfig) throw new Skip('GET /ocimirror/v1/config not available');
		await page.route('**/ocimirror/v1/config?*', async (r) => {
			const resp = await r.fetch();
			const j = await resp.json();
			for (const sec of j.sections) for (const st of sec.settings)
				if (st.parameter === 'siteName') Object.assign(st.rules, { regexMatch: '^(a+)+$', maxLength: null });
			await r.fulfill({ response: resp, json: j });
		});
		await page.goto(base + '/#/');
		await page.goto(configUrl);
		await waitLoaded('config');
		const f = '.field[data-parameter="siteName"]';
		eq('The pattern ^(a+)+$ is checked by the server only (it repeats a group holding a quantifier or an alternation: it could stall this page).',
			(await page.textContent(`${f} .regex-note`)).trim(), 'the note next to the field');
		eq(0, await page.locator('.field[data-parameter="interval"] .regex-note').count(), 'no note on a field without a pattern');
		await page.fill(`${f} input`, 'a'.repeat(40) + '!');
		eq('', (await page.textContent(`${f} .err`)).trim(), 'no client-side pattern check');
		await page.fill(`${f} input`, 'é'.repeat(2049));
		eq('the value is over 4096 bytes', (await page.textContent(`${f} .err`)).trim(), 'a value over MARGO_VALUE_MAX');
		await page.unroute('**/ocimirror/v1/config?*');
		eq([[], ['the value does not match ^[a-z]+$']], await page.evaluate(() => {
			const s = (p) => ({ dataType: 'string', rules: { regexMatch: p } });
			return [window.ocimirrorUi.check(s('^(a|aa)*$'), 'a'.repeat(60) + 'b'), window.ocimirrorUi.check(s('^[a-z]+$'), 'a'.repeat(4000) + '1')];
		}), 'check() with (a|aa)* and a long value');
		await snap('form-risky-pattern');
	});

	await step('repositories', async () => {
		await page.goto(base + '/#/repos');
		await page.waitForSelector('#repos, #view .errbox', { timeout: 15000 });
		const err = await page.$('#view .errbox');
		if (err) throw new Skip('GET /ocimirror/v1/repos: ' + (await err.textContent()).trim());
		const text = await page.textContent('#repos');
		assert(text.includes('apps/weather') && text.includes('2.1.0'), 'apps/weather:2.1.0 listed');
		await snap('repositories');
	});

	await step('sync status', async () => {
		await page.goto(base + '/#/sync');
		await page.waitForSelector('#sync-last, #view .errbox', { timeout: 15000 });
		const err = await page.$('#view .errbox');
		if (err) throw new Skip('GET /ocimirror/v1/sync: ' + (await err.textContent()).trim());
		eq('This store has not been synced yet.', (await page.textContent('#sync-last')).trim(), 'never synced');
		await snap('sync');
	});

	await step('tablet layout', async () => {
		const tab = await context.newPage();
		await tab.setViewportSize({ width: 768, height: 1024 });
		await tab.goto(base + '/#/');
		await waitLoaded('catalog', tab);
		const over = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		eq(0, Math.max(0, over), 'horizontal overflow at 768 px (catalog)');
		await snap('tablet-catalog', tab);
		await tab.goto(base + '/#/app?repo=apps%2Fweather&tag=2.1.0');
		await waitLoaded('app', tab);
		const over2 = await tab.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		eq(0, Math.max(0, over2), 'horizontal overflow at 768 px (application)');
		await snap('tablet-application', tab);
		await tab.close();
	});

	await step('no CSP violation', async () => {
		const bad = result.console.filter((m) => /Content Security Policy|Refused to (execute|load|apply)/i.test(m));
		eq([], bad, 'console messages about the policy');
	});

	await browser.close();
}

main().catch((e) => {
	result.fatal = String(e && e.stack ? e.stack : e);
	fs.writeFileSync(cfg.out, JSON.stringify(result, null, 1));
	process.exitCode = 1;
});
