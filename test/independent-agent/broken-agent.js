#!/usr/bin/env node
'use strict';
/*
 * The independent agent with three deliberate faults, for the conformance kit's own test: it
 * never sends the protocol `ack`, it installs whatever it downloads without checking the digest,
 * and it sends no heartbeat while it downloads (as an agent whose client library does no I/O
 * while it is busy would). The kit must fail it on exactly the checks that catch those faults.
 */
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const path = require('node:path');
const { IndependentAgent, main, log } = require('./agent.js');

class BrokenAgent extends IndependentAgent {
  /** Fault 1: the ack is never sent (the rest of the reply goes out as usual). */
  async publish(bodyOrMessage) {
    if (bodyOrMessage.type === 'ack') return this.envelope(bodyOrMessage);
    return super.publish(bodyOrMessage);
  }

  /** Fault 2: whatever comes is installed, digest unchecked. Fault 3: no heartbeat meanwhile. */
  async downloadAndInstall(target) {
    clearInterval(this.heartbeat);
    try {
      return await this.installUnchecked(target);
    } finally {
      this.heartbeat = setInterval(() => {
        if (this.channel) this.publish({ type: 'heartbeat', bootId: this.bootId }).catch(() => undefined);
      }, this.options.heartbeatMs);
    }
  }

  async installUnchecked(target) {
    const res = await fetch(target.url);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    const body = Buffer.from(await res.arrayBuffer());
    await fsp.mkdir(path.join(this.disk.dir, target.type), { recursive: true });
    fs.writeFileSync(path.join(this.disk.dir, target.type, target.version), body);
    await this.disk.setInstalled(target.type, target.version);
    log('installed', { type: target.type, version: target.version, bytes: body.length, verified: false });
    return body.length;
  }
}

main(BrokenAgent);
