// The ACME commands (ssl_acme, ssl_acme_ca, ssl_acme_key, ssl_acme_dir, ssl_acme_challenge,
// acme_http01_dir, acme), part of the one command table in commands.ts.
import { existsSync } from 'node:fs';
import { ConfigError } from '../errors';
import type { AcmeDomainState } from '../acme/manager';
import type { Command, CommandContext } from './commands';
import type { AcmeChallengeType, AcmeKeyType } from './settings';

const KEY_TYPES: AcmeKeyType[] = ['ecdsa', 'rsa2048'];
const CHALLENGE_TYPES: AcmeChallengeType[] = ['tls-alpn-01', 'http-01'];

/** Runs change on the settings; a running balancer then asks for the certificate, and on an error the settings are put back. */
function changeAcme(ctx: CommandContext, change: () => void): string {
  const before = { ...ctx.settings.tls };
  change();
  try {
    ctx.effects.acmeChanged();
  } catch (err) {
    Object.assign(ctx.settings.tls, before);
    throw err;
  }
  return '';
}

function stateLine(d: AcmeDomainState): string {
  return `${d.domain} state ${d.state} valid_until ${d.validUntil ?? '-'} next_renewal ${d.nextRenewal ?? '-'} last_error ${d.lastError ?? '-'}\n`;
}

export const acmeCommands: Record<string, Command> = {
  acme: {
    usage: '[renew]',
    run(ctx, [word]) {
      if (word === 'renew') {
        ctx.effects.renewAcme();
        return '';
      }
      if (word !== undefined) throw new ConfigError(`acme: expected nothing or renew, not '${word}'`);
      return (ctx.effects.acmeReport() ?? []).map(stateLine).join('');
    },
    json(ctx, args) {
      if (args.length > 0) return { reply: this.run(ctx, args) };
      return { acme: ctx.effects.acmeReport() ?? [] };
    },
  },
  ssl_acme: {
    usage: 'DIRECTORY_URL EMAIL DOMAIN[,DOMAIN…]',
    run(ctx, [directory, email, names]) {
      if (directory === undefined || email === undefined || names === undefined) throw new ConfigError('ssl_acme: expected DIRECTORY_URL EMAIL DOMAIN[,DOMAIN…]');
      if (!/^https:\/\/\S+$/.test(directory)) throw new ConfigError(`ssl_acme: the directory URL must be https://…, not '${directory}'`);
      if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new ConfigError(`ssl_acme: expected an email address, not '${email}'`);
      const domains = names.split(',').filter((d) => d !== '');
      const bad = domains.find((d) => !/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(d));
      if (bad !== undefined || domains.length === 0) throw new ConfigError(`ssl_acme: expected DOMAIN[,DOMAIN…], not '${bad ?? names}'`);
      return changeAcme(ctx, () => (ctx.settings.tls.acme = { directory, email, domains }));
    },
  },
  acme_http01_dir: {
    usage: 'DIR',
    run(ctx, [dir]) {
      if (dir === undefined) return `${ctx.settings.acmeHttp01Dir ?? ''}\n`;
      ctx.settings.acmeHttp01Dir = dir;
      return '';
    },
  },
  ssl_acme_challenge: {
    usage: CHALLENGE_TYPES.join('|'),
    run(ctx, [type]) {
      if (type !== undefined) {
        if (!CHALLENGE_TYPES.includes(type as AcmeChallengeType)) throw new ConfigError(`ssl_acme_challenge: expected tls-alpn-01 or http-01, not '${type}'`);
        ctx.settings.tls.acmeChallenge = type as AcmeChallengeType;
      }
      return `${ctx.settings.tls.acmeChallenge}\n`;
    },
  },
  ssl_acme_ca: {
    usage: 'FILE',
    run(ctx, [file]) {
      if (file === undefined) throw new ConfigError('ssl_acme_ca: expected FILE');
      if (!existsSync(file)) throw new ConfigError(`ssl_acme_ca ${file}: no such file`);
      ctx.settings.tls.acmeCa = file;
      return '';
    },
  },
  ssl_acme_dir: {
    usage: 'DIR',
    run(ctx, [dir]) {
      if (dir === undefined) throw new ConfigError('ssl_acme_dir: expected DIR');
      ctx.settings.tls.acmeDir = dir;
      return '';
    },
  },
  ssl_acme_key: {
    usage: KEY_TYPES.join('|'),
    run(ctx, [type]) {
      if (type !== undefined) {
        if (!KEY_TYPES.includes(type as AcmeKeyType)) throw new ConfigError(`ssl_acme_key: expected ecdsa or rsa2048, not '${type}'`);
        ctx.settings.tls.acmeKey = type as AcmeKeyType;
      }
      return `${ctx.settings.tls.acmeKey}\n`;
    },
  },
};

export const noAcmeCommands: Record<string, Command> = {
  ssl_acme: { usage: '', run: (ctx) => changeAcme(ctx, () => (ctx.settings.tls.acme = undefined)) },
  acme_http01_dir: { usage: '', run: (ctx) => { ctx.settings.acmeHttp01Dir = undefined; return ''; } },
};
