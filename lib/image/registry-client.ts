import { createHash } from 'node:crypto';
import type { Agent } from 'undici';
import { FailedPreconditionError, NotFoundError, UnavailableError, messageOf } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { basicCredentials, parseChallenge, type Challenge } from './credentials.js';
import type { Endpoint } from './endpoints.js';
import type { RegistryAuth } from './types.js';

/** A registry answered with a status worth trying again (429, 5xx) or could not be reached. */
export class TransientRegistryError extends UnavailableError {}

interface CachedToken {
  header: string;
  expiresAt: number;
}

const DEFAULT_TOKEN_SECONDS = 60;
const TOKEN_EXPIRY_SLACK_MS = 5_000;
const USER_AGENT = 'runcri';

function credentialKey(auth: RegistryAuth | undefined): string {
  if (!auth) return 'anonymous';
  return createHash('sha256').update(JSON.stringify(auth)).digest('hex').slice(0, 16);
}

/** OpenSSL / Node codes for a peer certificate that did not verify. */
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

function isCertificateError(err: unknown): boolean {
  const cause = (err as { cause?: unknown } | undefined)?.cause ?? err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CERTIFICATE_ERROR.test(code);
}

function isAbort(err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (err instanceof Error && err.name === 'AbortError');
}

/**
 * The Registry HTTP API v2 client: one instance per daemon, so tokens are cached per scope
 * and credential until they expire, and each host's working scheme is remembered.
 */
export class RegistryClient {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly challenges = new Map<string, Challenge>();
  private readonly schemeOf = new Map<string, 'https' | 'http'>();
  /** Made on first use: only endpoints the config marks insecure skip certificate checks. */
  private unverified: Agent | undefined;

  constructor(private readonly log: Logger) {}

  /**
   * Node's global fetch always verifies certificates, so an insecure endpoint goes through
   * undici's own fetch with an agent that does not (the agent must come from the same undici).
   */
  private async fetch(url: string | URL, init: RequestInit, insecure: boolean): Promise<Response> {
    if (!insecure) return fetch(url, init);
    // Loaded on first use: most nodes never name an insecure registry, and undici is large.
    const undici = await import('undici');
    this.unverified ??= new undici.Agent({ connect: { rejectUnauthorized: false } });
    const res = await undici.fetch(url, { ...(init as Parameters<typeof undici.fetch>[1]), dispatcher: this.unverified });
    // Same shape at runtime (Node's fetch is undici too); only the type declarations differ.
    return res as unknown as Response;
  }

  /** GET `/v2/<repo>/<suffix>` with auth; the caller reads or cancels the body. */
  async get(ep: Endpoint, suffix: string, options: { accept?: string; auth?: RegistryAuth; signal: AbortSignal }): Promise<Response> {
    const scope = `repository:${ep.repo}:pull`;
    let header = options.auth?.registryToken ? `Bearer ${options.auth.registryToken}` : await this.cachedHeader(ep, scope, options.auth, options.signal);
    let res = await this.send(ep, suffix, header, options.accept, options.signal);
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
      await res.body?.cancel().catch(() => undefined);
      if (!challenge) throw new FailedPreconditionError(`${ep.host}: authentication required but the registry sent no usable challenge`);
      this.challenges.set(ep.host, challenge);
      header = await this.answer(challenge, ep, scope, options.auth, options.signal);
      res = await this.send(ep, suffix, header, options.accept, options.signal);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => undefined);
      throw new FailedPreconditionError(`pull access denied for ${ep.host}/${ep.repo}: ${options.auth ? 'the credentials were refused' : 'authentication required'} (HTTP ${res.status})`);
    }
    return res;
  }

  /** Fails with the right domain error for a non-2xx answer, after draining it. */
  static async check(res: Response, what: string): Promise<void> {
    if (res.ok) return;
    const text = (await res.text().catch(() => '')).slice(0, 300).trim();
    const detail = `${what}: HTTP ${res.status}${text ? `: ${text}` : ''}`;
    if (res.status === 404) throw new NotFoundError(detail);
    if (res.status === 429 || res.status >= 500) throw new TransientRegistryError(detail);
    throw new FailedPreconditionError(detail);
  }

  private async send(ep: Endpoint, suffix: string, authorization: string | undefined, accept: string | undefined, signal: AbortSignal): Promise<Response> {
    const remembered = this.schemeOf.get(ep.host);
    const schemes = remembered && ep.schemes.includes(remembered) ? [remembered, ...ep.schemes.filter((s) => s !== remembered)] : ep.schemes;
    const headers: Record<string, string> = { 'user-agent': USER_AGENT };
    if (accept) headers.accept = accept;
    if (authorization) headers.authorization = authorization;
    let lastError: unknown;
    for (const scheme of schemes) {
      try {
        const res = await this.fetch(`${scheme}://${ep.host}/v2/${ep.repo}/${suffix}`, { headers, signal, redirect: 'follow' }, ep.insecure);
        this.schemeOf.set(ep.host, scheme);
        return res;
      } catch (err) {
        if (isAbort(err, signal)) throw signal.reason ?? err;
        // The host speaks TLS with a certificate we must not accept: plain HTTP would not help.
        if (isCertificateError(err)) {
          throw new FailedPreconditionError(`${ep.host}: TLS certificate verification failed: ${messageOf((err as { cause?: unknown }).cause ?? err)} (mark the registry insecure in the configuration to skip verification)`);
        }
        lastError = err;
      }
    }
    const cause = (lastError as { cause?: unknown } | undefined)?.cause;
    throw new TransientRegistryError(`cannot reach ${ep.host}: ${messageOf(cause ?? lastError)}`);
  }

  private async cachedHeader(ep: Endpoint, scope: string, auth: RegistryAuth | undefined, signal: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenges.get(ep.host);
    // Without credentials a Basic host may still serve some repositories anonymously.
    if (!challenge || (challenge.scheme === 'basic' && !(auth && basicCredentials(auth)))) return undefined;
    return this.answer(challenge, ep, scope, auth, signal);
  }

  private async answer(challenge: Challenge, ep: Endpoint, scope: string, auth: RegistryAuth | undefined, signal: AbortSignal): Promise<string> {
    if (challenge.scheme === 'basic') {
      const basic = auth && basicCredentials(auth);
      if (!basic) throw new FailedPreconditionError(`pull access denied for ${ep.host}/${ep.repo}: the registry requires credentials`);
      return `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
    }
    if (challenge.scheme !== 'bearer') throw new FailedPreconditionError(`${ep.host}: unsupported authentication scheme "${challenge.scheme}"`);
    const realm = challenge.params.realm;
    if (!realm) throw new FailedPreconditionError(`${ep.host}: bearer challenge without a realm`);
    this.checkRealm(realm, ep, auth);
    const service = challenge.params.service ?? '';
    const key = `${realm}|${service}|${scope}|${credentialKey(auth)}`;
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return cached.header;
    const token = await this.fetchToken(realm, service, scope, auth, ep.insecure, signal);
    this.tokens.set(key, token);
    return token.header;
  }

  /**
   * The token server is named by the registry's answer, so it must not become a way to
   * downgrade: credentials (a password or an identity token) go to a plain-HTTP realm only
   * when the registry itself was reached over plain HTTP or is marked insecure.
   */
  private checkRealm(realm: string, ep: Endpoint, auth: RegistryAuth | undefined): void {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new FailedPreconditionError(`${ep.host}: bearer challenge with a realm that is not a URL: "${realm.slice(0, 200)}"`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new FailedPreconditionError(`${ep.host}: bearer challenge with a realm that is not an HTTP(S) URL: ${realm.slice(0, 200)}`);
    }
    const sendsSecret = !!auth && (!!auth.identityToken || !!basicCredentials(auth));
    const registryOverTls = (this.schemeOf.get(ep.host) ?? 'https') === 'https';
    if (sendsSecret && url.protocol === 'http:' && registryOverTls && !ep.insecure) {
      throw new FailedPreconditionError(`${ep.host} is served over HTTPS but its token server ${realm} is plain HTTP: refusing to send credentials there (mark the registry insecure in the configuration to allow it)`);
    }
  }

  /** An insecure registry's token server gets the same relaxed TLS, as in containers/image. */
  private async fetchToken(realm: string, service: string, scope: string, auth: RegistryAuth | undefined, insecure: boolean, signal: AbortSignal): Promise<CachedToken> {
    let res: Response;
    try {
      if (auth?.identityToken) {
        // An identity token is an OAuth2 refresh token, exchanged at the realm by POST.
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identityToken, service, scope, client_id: USER_AGENT });
        res = await this.fetch(realm, { method: 'POST', body: form, headers: { 'user-agent': USER_AGENT }, signal }, insecure);
      } else {
        const url = new URL(realm);
        if (service) url.searchParams.set('service', service);
        url.searchParams.set('scope', scope);
        const headers: Record<string, string> = { 'user-agent': USER_AGENT };
        const basic = auth && basicCredentials(auth);
        if (basic) headers.authorization = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
        res = await this.fetch(url, { headers, signal }, insecure);
      }
    } catch (err) {
      if (isAbort(err, signal)) throw signal.reason ?? err;
      const detail = messageOf((err as { cause?: unknown }).cause ?? err);
      if (isCertificateError(err)) throw new FailedPreconditionError(`token server ${realm}: TLS certificate verification failed: ${detail}`);
      throw new TransientRegistryError(`token server ${realm}: ${detail}`);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel().catch(() => undefined);
      throw new FailedPreconditionError(`token server ${realm} refused ${auth ? 'the credentials' : 'anonymous access'} for ${scope} (HTTP ${res.status})`);
    }
    await RegistryClient.check(res, `token server ${realm}`);
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new FailedPreconditionError(`token server ${realm} answered without a token`);
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_SECONDS;
    this.log.debug({ realm, scope, seconds }, 'registry token obtained');
    return { header: `Bearer ${token}`, expiresAt: Date.now() + seconds * 1000 - TOKEN_EXPIRY_SLACK_MS };
  }
}
