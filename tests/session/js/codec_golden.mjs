// Encode and decode scenarios with the official UIMessage codec, for byte-level comparison
// with the Python codec. Params: {encode: [scenario], decode: [scenario]}.
//  encode scenario: {options: {headers, messageId}, failAppends: [data...], ops: [{op, event, options}]}
//  decode scenario: {messages: [{name, data, extras, action, serial, version, clientId}]}
import { emit, main, vercel } from './sdk.mjs';

const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

const recordingWriter = (failAppends) => {
  const log = [];
  let n = 0;
  const next = () => `s${String(++n).padStart(4, '0')}`;
  return {
    log,
    publish: async (m) => {
      const list = Array.isArray(m) ? m : [m];
      log.push({ op: 'publish', messages: list.map(clone) });
      return { serials: list.map(() => next()) };
    },
    appendMessage: async (m) => {
      log.push({ op: 'append', message: clone(m) });
      if (failAppends.includes(m.data)) throw new Error('append refused');
      return { versionSerial: next() };
    },
    updateMessage: async (m) => {
      log.push({ op: 'update', message: clone(m) });
      return { versionSerial: next() };
    },
  };
};

const toWriteOptions = (o) =>
  o === undefined ? undefined : { extras: o.headers ? { headers: o.headers } : undefined, messageId: o.messageId };

const runEncode = async (codec, scenario) => {
  const writer = recordingWriter(scenario.failAppends ?? []);
  const opts = scenario.options ?? {};
  const encoder = codec.createEncoder(writer, {
    extras: opts.headers ? { headers: opts.headers } : undefined,
    messageId: opts.messageId,
  });
  const errors = [];
  for (const step of scenario.ops) {
    try {
      if (step.op === 'output') await encoder.publishOutput(step.event, toWriteOptions(step.options));
      else if (step.op === 'input') await encoder.publishInput(step.event, toWriteOptions(step.options));
      else if (step.op === 'cancel') await encoder.cancelStreams();
      else if (step.op === 'close') await encoder.close();
    } catch (error) {
      errors.push({ index: errors.length, code: error.code ?? null });
    }
  }
  return { log: writer.log, errors };
};

const runDecode = (codec, scenario) => {
  const decoder = codec.createDecoder();
  let projection = codec.init();
  const decoded = [];
  for (const m of scenario.messages) {
    const inbound = { ...m, version: m.version ?? {} };
    const { inputs, outputs } = decoder.decode(inbound);
    decoded.push({ inputs: clone(inputs), outputs: clone(outputs) });
    const messageId = m.extras?.ai?.transport?.['codec-message-id'];
    for (const event of [...inputs.map((e) => ({ direction: 'input', event: e })),
      ...outputs.map((e) => ({ direction: 'output', event: e }))]) {
      projection = codec.fold(projection, event, { serial: m.serial ?? '', messageId });
    }
  }
  return { decoded, messages: clone(codec.getMessages(projection)) };
};

main(async (params) => {
  const codec = vercel.createUIMessageCodec();
  const encode = [];
  for (const scenario of params.encode ?? []) encode.push(await runEncode(codec, scenario));
  const decode = (params.decode ?? []).map((scenario) => runDecode(codec, scenario));
  return { encode, decode };
});
