import { createHash, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import type { Counter } from 'prom-client';
import { AgentId } from '@herald/contracts';
import { CommandHandler, Database } from '@herald/event-store';
import { ServiceConfig, ServiceMetrics } from '@herald/platform';
import type { AgentPresenceConfig } from '../config';
import { credentialSha256, parseAgentPassword } from './broker-access';
import { type AdmissionStatus, identityDecider, identityStreamId } from './identity.decider';

/** How a broker login of an agent ended; everything but `allowed` is refused. */
export type LoginResult = 'allowed' | AdmissionStatus | 'wrong-secret' | 'bad-enrolment-token' | 'malformed';

export interface IdentityView {
  agentId: string;
  status: AdmissionStatus;
  enrolledWith: string;
  enrolledAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  reason: string | null;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Agents' broker logins (rabbitmq_auth_backend_http asks /auth/user): an agent logs in as its id
 * with `<enrolment token>:<its secret>`. The first login with a valid enrolment token binds the
 * secret to the id (pending, or accepted at once with AGENT_AUTO_ACCEPT); after that only that
 * secret logs in, and only while an admin has the agent accepted. One indexed read per login;
 * the first login also writes its enrolment.
 */
@Injectable()
export class AgentAdmission implements OnModuleInit {
  private logins!: Counter<'result'>;
  private readonly enrolmentTokens: Array<{ name: string; digest: Buffer }>;

  constructor(
    @Inject(ServiceConfig) private readonly config: AgentPresenceConfig,
    private readonly db: Database,
    private readonly commands: CommandHandler,
    private readonly metrics: ServiceMetrics,
    private readonly log: PinoLogger,
  ) {
    this.enrolmentTokens = config.AGENT_ENROLMENT_TOKENS.map((t) => ({ name: t.name, digest: digest(t.token) }));
    log.setContext('agent-admission');
  }

  onModuleInit(): void {
    this.logins = this.metrics.counter('herald_agent_logins_total', 'Broker logins of agents by result (allowed, pending, rejected, revoked, wrong-secret, bad-enrolment-token, malformed)', ['result']);
    this.metrics.gauge('herald_agent_identities', 'Agent identities by admission status', ['status'], async (g) => {
      g.reset();
      const rows = await this.db.session((sql) => sql.rows<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM agent_identities GROUP BY status`));
      for (const r of rows) g.set({ status: r.status }, Number(r.n));
    });
  }

  async login(username: string, password: string): Promise<LoginResult> {
    const result = await this.decide(username, password);
    this.logins.inc({ result });
    // Debug, not info: a pending agent tries again every few seconds until an admin decides (the metric counts them all).
    if (result !== 'allowed') this.log.debug({ agentId: AgentId.safeParse(username).success ? username : '(not an agent id)', result }, `agent broker login refused: ${result}`);
    return result;
  }

  private async decide(agentId: string, password: string): Promise<LoginResult> {
    const credential = parseAgentPassword(password);
    if (!AgentId.safeParse(agentId).success || !credential) return 'malformed';
    const presented = credentialSha256(credential.secret);
    let known = await this.identity(agentId);
    if (!known) {
      const token = credential.enrolmentToken === null ? undefined : this.enrolmentToken(credential.enrolmentToken);
      if (!token) return 'bad-enrolment-token';
      await this.commands.handle(identityDecider, identityStreamId(agentId), {
        type: 'Enrol',
        agentId,
        credentialSha256: presented,
        enrolledWith: token,
        autoAccept: this.config.AGENT_AUTO_ACCEPT,
        now: new Date(),
      });
      // Two first logins at once: whichever enrolled first bound its secret. Read what was decided.
      known = await this.identity(agentId);
      if (!known) throw new Error(`the enrolment of ${agentId} was not recorded`);
      if (known.credential_sha256 === presented) this.log.info({ agentId, enrolledWith: token, status: known.status }, `agent ${agentId} enrolled (${known.status})`);
    }
    if (!timingSafeEqual(Buffer.from(known.credential_sha256, 'hex'), Buffer.from(presented, 'hex'))) return 'wrong-secret';
    return known.status === 'accepted' ? 'allowed' : known.status;
  }

  private identity(agentId: string): Promise<{ status: AdmissionStatus; credential_sha256: string } | undefined> {
    return this.db.session((sql) => sql.one(`SELECT status, credential_sha256 FROM agent_identities WHERE agent_id = $1`, [agentId]));
  }

  /** The name of the enrolment token presented, compared against every configured one in constant time. */
  private enrolmentToken(presented: string): string | undefined {
    const d = digest(presented);
    let found: string | undefined;
    for (const t of this.enrolmentTokens) if (timingSafeEqual(t.digest, d) && !found) found = t.name;
    return found;
  }

  /** A page of identities and their total, read from one snapshot (so they always agree). */
  async list(status: AdmissionStatus | undefined, limit: number, offset: number): Promise<{ total: number; identities: IdentityView[] }> {
    return this.db.snapshot(async (sql) => {
      const where = status ? 'WHERE status = $1' : '';
      const args = status ? [status] : [];
      const total = await sql.one<{ n: string }>(`SELECT count(*) AS n FROM agent_identities ${where}`, args);
      const rows = await sql.rows<Row>(`SELECT * FROM agent_identities ${where} ORDER BY enrolled_at DESC, agent_id LIMIT ${limit} OFFSET ${offset}`, args);
      return { total: Number(total?.n ?? 0), identities: rows.map(view) };
    });
  }

  async get(agentId: string): Promise<IdentityView | undefined> {
    const row = await this.db.session((sql) => sql.one<Row>(`SELECT * FROM agent_identities WHERE agent_id = $1`, [agentId]));
    return row ? view(row) : undefined;
  }
}

interface Row {
  agent_id: string;
  status: AdmissionStatus;
  enrolled_with: string;
  enrolled_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  reason: string | null;
}

const view = (r: Row): IdentityView => ({
  agentId: r.agent_id,
  status: r.status,
  enrolledWith: r.enrolled_with,
  enrolledAt: r.enrolled_at,
  decidedAt: r.decided_at,
  decidedBy: r.decided_by,
  reason: r.reason,
});
