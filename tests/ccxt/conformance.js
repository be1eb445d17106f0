// Conformance of trailguard's loopback exchange emulator with an independent,
// widely used client: ccxt (npm), pointed at `trailguard sim` instead of the
// real Binance USD-M futures and Bybit v5 APIs. If ccxt cannot do something
// against the emulator that it does against the exchange, the emulator is
// wrong.
//
//   node tests/ccxt/conformance.js PATH/TO/trailguard
//
// Starts the emulator on ephemeral loopback ports with its own test accounts,
// opens positions through the control endpoint, then drives ccxt through:
// load markets, fetch positions, place a reduce-only stop (Binance: an algo
// STOP_MARKET; Bybit: the position's stop through /v5/position/trading-stop),
// fetch the open stop orders, cancel, a stop that fires on the mark, and the
// mapped errors; then the WebSocket side through ccxt.pro (mark price and
// ticker streams, the private order streams).
// Exits 0 when every step passed, 1 otherwise, 77 when ccxt is not installed.
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

let ccxt;
try {
  ccxt = require('ccxt');
} catch (e) {
  console.error('ccxt is not installed (cd tests/ccxt && npm ci); skipping');
  process.exit(77);
}

const SYMBOL = 'BTC/USDT:USDT';
const ACCOUNTS = [
  { venue: 'binance', name: 'ccxt-bn', api_key: 'ccxtBinanceKey0001', api_secret: 'ccxtBinanceSecret0001' },
  { venue: 'bybit', name: 'ccxt-by', api_key: 'ccxtBybitKey0001', api_secret: 'ccxtBybitSecret0001' },
];
const READY_TIMEOUT_MS = 10000;
// A watch subscribes on its first call; what it waits for is triggered this
// long after, so that a loaded machine has connected by then.
const SUBSCRIBE_WAIT_MS = 1500;
const WATCH_TIMEOUT_MS = 15000;

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

// Starts `trailguard sim` and resolves with its URLs once both ready lines came.
function startSim(bin, accountsPath) {
  return new Promise((resolve, reject) => {
    const sim = spawn(bin, ['sim', '--listen', '127.0.0.1:0', '--seed', '1', '--accounts', accountsPath],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const urls = {};
    let buf = '';
    const timer = setTimeout(() => reject(new Error('the emulator did not print its ready lines')),
      READY_TIMEOUT_MS);
    sim.on('exit', (code) => reject(new Error(`the emulator exited with ${code}`)));
    sim.stdout.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(binance|bybit) rest=(\S+) ws=(\S+)/.exec(line);
        if (m) urls[m[1]] = { rest: m[2], ws: m[3] };
      }
      if (urls.binance && urls.bybit) {
        clearTimeout(timer);
        resolve({ sim, urls });
      }
    });
  });
}

async function control(base, method, route, body) {
  const res = await fetch(base + route, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: HTTP ${res.status} ${text}`);
  return text;
}

async function expectError(promise, cls, what) {
  try {
    await promise;
    check(false, `${what}: no error`);
  } catch (e) {
    check(e instanceof cls, `${what}: ${e.constructor.name} (${String(e.message).slice(0, 120)})`);
  }
}

async function binance(rest) {
  const acct = ACCOUNTS[0];
  await control(rest, 'POST', '/sim/mark', { symbol: 'BTCUSDT', price: '50000' });
  await control(rest, 'POST', '/sim/position',
    { account: acct.name, symbol: 'BTCUSDT', side: 'long', size: '0.010', entry: '50000' });
  const ex = new ccxt.binanceusdm({
    apiKey: acct.api_key,
    secret: acct.api_secret,
    options: { fetchCurrencies: false, adjustForTimeDifference: false },
  });
  for (const k of Object.keys(ex.urls.api)) {
    if (typeof ex.urls.api[k] === 'string' && ex.urls.api[k].startsWith('https://fapi.binance.com')) {
      ex.urls.api[k] = ex.urls.api[k].replace('https://fapi.binance.com', rest);
    }
  }
  // ccxt picks its per-market error table from the host name of the URL
  // (https://fapi.binance.com → "linear"); a loopback URL cannot say that, so
  // pick the table the real host would select.
  ex.getExceptionsByUrl = (url, kind) => ex.safeDict(ex.safeDict(ex.exceptions, 'linear', {}), kind, {});
  await ex.loadMarkets();
  const m = ex.market(SYMBOL);
  check(m.id === 'BTCUSDT' && m.linear && m.swap, 'binance loadMarkets: BTCUSDT linear swap');
  check(Number(m.precision.price) === 0.1, `binance tick size 0.1 (got ${m.precision.price})`);

  const positions = await ex.fetchPositions([SYMBOL]);
  const pos = positions.find((p) => p.symbol === SYMBOL && p.contracts > 0);
  check(pos !== undefined && pos.side === 'long' && pos.contracts === 0.01,
    `binance fetchPositions: long 0.01 (got ${JSON.stringify(pos && [pos.side, pos.contracts])})`);

  const order = await ex.createOrder(SYMBOL, 'market', 'sell', 0.01, undefined,
    { stopLossPrice: 49000, reduceOnly: true, workingType: 'MARK_PRICE' });
  check(order.id !== undefined, `binance reduce-only stop-market placed (algo id ${order.id})`);

  let open = await ex.fetchOpenOrders(SYMBOL, undefined, undefined, { trigger: true });
  const ours = open.find((o) => String(o.id) === String(order.id));
  check(ours !== undefined && Number(ours.triggerPrice) === 49000 && ours.reduceOnly === true,
    `binance fetchOpenOrders(trigger): our stop at 49000 (got ${JSON.stringify(ours && [ours.triggerPrice, ours.reduceOnly])})`);

  await expectError(
    ex.createOrder(SYMBOL, 'market', 'sell', 0.01, undefined, { stopLossPrice: 51000, reduceOnly: true }),
    ccxt.OrderImmediatelyFillable, 'binance stop above the mark of a long (-2021)');
  // createOrder rounds prices to the tick before sending, so an off-tick
  // trigger is sent through the raw endpoint; ccxt maps -4014 to BadRequest.
  await expectError(ex.fapiPrivatePostAlgoOrder({
    algoType: 'CONDITIONAL', symbol: 'BTCUSDT', side: 'SELL', type: 'STOP_MARKET',
    triggerPrice: '49000.05', quantity: '0.010', reduceOnly: 'true',
  }), ccxt.BadRequest, 'binance stop off the tick (-4014)');

  await ex.cancelOrder(order.id, SYMBOL, { trigger: true });
  open = await ex.fetchOpenOrders(SYMBOL, undefined, undefined, { trigger: true });
  check(!open.some((o) => String(o.id) === String(order.id)), 'binance cancelOrder(trigger): the stop is gone');
  await expectError(ex.cancelOrder(order.id, SYMBOL, { trigger: true }), ccxt.OrderNotFound,
    'binance cancel of a cancelled stop');

  // the stop fires on the mark price and ccxt sees the position closed
  const again = await ex.createOrder(SYMBOL, 'market', 'sell', 0.01, undefined,
    { stopLossPrice: 49500, reduceOnly: true, workingType: 'MARK_PRICE' });
  check(again.id !== undefined, 'binance second stop placed');
  await control(rest, 'POST', '/sim/mark', { symbol: 'BTCUSDT', price: '49400' });
  const after = await ex.fetchPositions([SYMBOL]);
  check(!after.some((p) => p.symbol === SYMBOL && p.contracts > 0),
    'binance the stop fired on the mark: fetchPositions shows no position');
  open = await ex.fetchOpenOrders(SYMBOL, undefined, undefined, { trigger: true });
  check(open.length === 0, `binance no stop left after the trigger (${open.length} left)`);

  const bad = new ccxt.binanceusdm({ apiKey: acct.api_key, secret: 'wrong-secret', options: { fetchCurrencies: false } });
  bad.urls.api = ex.urls.api;
  bad.markets = ex.markets;
  bad.marketsById = ex.marketsById;
  await expectError(bad.fetchPositions([SYMBOL]), ccxt.AuthenticationError, 'binance bad signature (-1022)');
}

async function bybit(rest) {
  const acct = ACCOUNTS[1];
  await control(rest, 'POST', '/sim/mark', { symbol: 'BTCUSDT', price: '50000' });
  await control(rest, 'POST', '/sim/position',
    { account: acct.name, symbol: 'BTCUSDT', side: 'long', size: '0.010', entry: '50000' });
  const ex = new ccxt.bybit({
    apiKey: acct.api_key,
    secret: acct.api_secret,
    options: {
      enableUnifiedAccount: true,
      enableUnifiedMargin: false,
      adjustForTimeDifference: false,
      fetchMarkets: { types: ['linear'] },
      loadAllOptions: false,
    },
  });
  ex.has.fetchCurrencies = false;
  ex.urls.api = { spot: rest, futures: rest, v2: rest, public: rest, private: rest };
  await ex.loadMarkets();
  const m = ex.market(SYMBOL);
  check(m.id === 'BTCUSDT' && m.linear && m.swap, 'bybit loadMarkets: BTCUSDT linear swap');
  check(Number(m.precision.price) === 0.1, `bybit tick size 0.1 (got ${m.precision.price})`);

  const positions = await ex.fetchPositions([SYMBOL]);
  const pos = positions.find((p) => p.symbol === SYMBOL && p.contracts > 0);
  check(pos !== undefined && pos.side === 'long' && pos.contracts === 0.01,
    `bybit fetchPositions: long 0.01 (got ${JSON.stringify(pos && [pos.side, pos.contracts])})`);

  const set = await ex.privatePostV5PositionTradingStop({
    category: 'linear', symbol: 'BTCUSDT', stopLoss: '49000', tpslMode: 'Full',
    slTriggerBy: 'MarkPrice', positionIdx: 0,
  });
  check(set.retCode === '0' || set.retCode === 0, 'bybit trading-stop: the position stop is set');

  let open = await ex.fetchOpenOrders(SYMBOL, undefined, undefined, { trigger: true });
  const stop = open.find((o) => Number(o.triggerPrice) === 49000);
  check(stop !== undefined && stop.reduceOnly === true,
    `bybit fetchOpenOrders(trigger): the StopLoss order at 49000 (got ${open.length} orders)`);

  await expectError(ex.privatePostV5PositionTradingStop({
    category: 'linear', symbol: 'BTCUSDT', stopLoss: '49000', tpslMode: 'Full', slTriggerBy: 'MarkPrice', positionIdx: 0,
  }), ccxt.ExchangeError, 'bybit unchanged stop (34040 not modified)');
  await expectError(ex.privatePostV5PositionTradingStop({
    category: 'linear', symbol: 'BTCUSDT', stopLoss: '51000', tpslMode: 'Full', slTriggerBy: 'MarkPrice', positionIdx: 0,
  }), ccxt.ExchangeError, 'bybit stop above the mark of a long');

  await ex.privatePostV5PositionTradingStop({
    category: 'linear', symbol: 'BTCUSDT', stopLoss: '0', tpslMode: 'Full', positionIdx: 0,
  });
  open = await ex.fetchOpenOrders(SYMBOL, undefined, undefined, { trigger: true });
  check(open.length === 0, `bybit stopLoss 0 cancels the stop (${open.length} left)`);
  await expectError(ex.cancelOrder('00000000-0000-0000-0000-000000000000', SYMBOL), ccxt.OrderNotFound,
    'bybit cancel of an unknown order (110001)');

  // the position's stop fires on the mark price and ccxt sees the position closed
  await ex.privatePostV5PositionTradingStop({
    category: 'linear', symbol: 'BTCUSDT', stopLoss: '49500', tpslMode: 'Full',
    slTriggerBy: 'MarkPrice', positionIdx: 0,
  });
  await control(rest, 'POST', '/sim/mark', { symbol: 'BTCUSDT', price: '49400' });
  const after = await ex.fetchPositions([SYMBOL]);
  check(!after.some((p) => p.symbol === SYMBOL && p.contracts > 0),
    'bybit the stop fired on the mark: fetchPositions shows no position');
}

// Resolves like promise, or rejects after ms.
function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// The WebSocket side through ccxt.pro: public mark/ticker streams and the
// private order streams (Binance listenKey, Bybit auth).
// Calls watch() until pass(result) holds or WATCH_TIMEOUT_MS passed: a
// stream may deliver other updates first (the 1 s mark-price push, say).
async function watchUntil(watch, pass, what) {
  const deadline = Date.now() + WATCH_TIMEOUT_MS;
  let last;
  do {
    last = await withTimeout(watch(), Math.max(deadline - Date.now(), 1), what);
  } while (!pass(last) && Date.now() < deadline);
  return last;
}

async function streams(urls) {
  const [bnAcct, byAcct] = ACCOUNTS;
  const bnRest = urls.binance.rest;
  const byRest = urls.bybit.rest;
  const bn = new ccxt.pro.binanceusdm({
    apiKey: bnAcct.api_key, secret: bnAcct.api_secret,
    options: { fetchCurrencies: false, adjustForTimeDifference: false },
  });
  for (const k of Object.keys(bn.urls.api)) {
    if (typeof bn.urls.api[k] === 'string' && bn.urls.api[k].startsWith('https://fapi.binance.com')) {
      bn.urls.api[k] = bn.urls.api[k].replace('https://fapi.binance.com', bnRest);
    }
  }
  bn.urls.api.ws.future = urls.binance.ws + '/ws';
  await bn.loadHttpProxyAgent(); // ccxt wants it for plain ws:// URLs
  await bn.loadMarkets();
  setTimeout(() => control(bnRest, 'POST', '/sim/mark', { symbol: 'BTCUSDT', price: '50123.4' }), SUBSCRIBE_WAIT_MS);
  const mp = await watchUntil(() => bn.watchMarkPrice(SYMBOL), (m) => Number(m.markPrice) === 50123.4,
    'binance watchMarkPrice');
  check(mp.symbol === SYMBOL && Number(mp.markPrice) === 50123.4,
    `binance watchMarkPrice: 50123.4 (got ${mp.markPrice})`);
  await control(bnRest, 'POST', '/sim/position',
    { account: bnAcct.name, symbol: 'BTCUSDT', side: 'long', size: '0.010', entry: '50000' });
  setTimeout(() => bn.createOrder(SYMBOL, 'market', 'sell', 0.01, undefined,
    { stopLossPrice: 49000, reduceOnly: true, workingType: 'MARK_PRICE' }).catch(() => {}), SUBSCRIBE_WAIT_MS);
  const bo = await watchUntil(() => bn.watchOrders(SYMBOL),
    (os) => os.some((o) => Number(o.triggerPrice) === 49000), 'binance watchOrders');
  check(bo.some((o) => Number(o.triggerPrice) === 49000),
    `binance watchOrders: the new stop at 49000 (got ${JSON.stringify(bo.map((o) => o.triggerPrice))})`);
  await bn.close();

  const by = new ccxt.pro.bybit({
    apiKey: byAcct.api_key, secret: byAcct.api_secret,
    options: { enableUnifiedAccount: true, enableUnifiedMargin: false, adjustForTimeDifference: false,
      fetchMarkets: { types: ['linear'] }, loadAllOptions: false },
  });
  by.has.fetchCurrencies = false;
  by.urls.api = { ...by.urls.api, spot: byRest, futures: byRest, v2: byRest, public: byRest, private: byRest };
  const priv = urls.bybit.ws + '/v5/private';
  by.urls.api.ws = { public: { linear: urls.bybit.ws + '/v5/public/linear' },
    private: { contract: priv, spot: { unified: priv } } };
  await by.loadHttpProxyAgent();
  await by.loadMarkets();
  const tk = await withTimeout(by.watchTicker(SYMBOL), WATCH_TIMEOUT_MS, 'bybit watchTicker');
  check(tk.symbol === SYMBOL && tk.markPrice !== undefined, `bybit watchTicker snapshot (mark ${tk.markPrice})`);
  setTimeout(() => control(byRest, 'POST', '/sim/mark', { symbol: 'BTCUSDT', price: '50200' }), SUBSCRIBE_WAIT_MS);
  const tk2 = await watchUntil(() => by.watchTicker(SYMBOL), (t) => Number(t.markPrice) === 50200,
    'bybit watchTicker delta');
  check(Number(tk2.markPrice) === 50200, `bybit watchTicker delta: 50200 (got ${tk2.markPrice})`);
  await control(byRest, 'POST', '/sim/position',
    { account: byAcct.name, symbol: 'BTCUSDT', side: 'long', size: '0.010', entry: '50200' });
  setTimeout(() => by.privatePostV5PositionTradingStop({ category: 'linear', symbol: 'BTCUSDT',
    stopLoss: '49000', tpslMode: 'Full', slTriggerBy: 'MarkPrice', positionIdx: 0 }).catch(() => {}), SUBSCRIBE_WAIT_MS);
  const yo = await watchUntil(() => by.watchOrders(SYMBOL),
    (os) => os.some((o) => Number(o.triggerPrice) === 49000), 'bybit watchOrders');
  check(yo.some((o) => Number(o.triggerPrice) === 49000),
    `bybit watchOrders (private auth): the StopLoss at 49000 (got ${JSON.stringify(yo.map((o) => o.triggerPrice))})`);
  await by.close();
}

async function main() {
  const bin = process.argv[2];
  if (!bin || !fs.existsSync(bin)) {
    console.error('usage: node conformance.js PATH/TO/trailguard');
    process.exit(2);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-ccxt-'));
  const accountsPath = path.join(dir, 'accounts.json');
  fs.writeFileSync(accountsPath, JSON.stringify(ACCOUNTS));
  const { sim, urls } = await startSim(bin, accountsPath);
  sim.removeAllListeners('exit');
  try {
    for (const [name, run] of [['binance', binance], ['bybit', bybit]]) {
      try {
        await run(urls[name].rest);
      } catch (e) {
        check(false, `${name}: ${e.constructor.name}: ${e.message}`);
      }
    }
    try {
      await control(urls.binance.rest, 'DELETE', '/sim/reset');
      await streams(urls);
    } catch (e) {
      check(false, `streams: ${e.constructor.name}: ${e.message}`);
    }
  } finally {
    sim.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(failures === 0 ? 'ccxt conformance: all passed' : `ccxt conformance: ${failures} failed`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`ccxt conformance: ${e.message}`);
  process.exit(1);
});
