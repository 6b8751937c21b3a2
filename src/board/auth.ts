import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

export interface BoardCredentials {
  user: string;
  password: string;
  /** True when nobody configured BOARD_USER/BOARD_PASSWORD and a one-off password was made up. */
  generated: boolean;
}

/**
 * The configured credentials, or a generated password when none are set. Half a pair is a
 * configuration mistake, refused rather than silently falling back to a generated password.
 */
export function resolveCredentials(user: string | undefined, password: string | undefined): BoardCredentials {
  if (user && password) return { user, password, generated: false };
  if (user || password) throw new Error('set both BOARD_USER and BOARD_PASSWORD, or neither');
  return { user: 'admin', password: randomBytes(18).toString('base64url'), generated: true };
}

// Hashing first gives both sides the same length, so timingSafeEqual never throws and the
// comparison time tells nothing about the secret's length either.
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function parseBasic(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header?.trim() ?? '');
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** HTTP basic auth in front of every path of the board server, its API and health endpoints included. */
export function basicAuth(credentials: BoardCredentials, realm = 'flatfee-worker'): RequestHandler {
  return (req, res, next) => {
    const given = parseBasic(req.headers.authorization);
    // Both comparisons always run, so a wrong user name costs as long as a wrong password.
    const userOk = sameSecret(given?.user ?? '', credentials.user);
    const passwordOk = sameSecret(given?.password ?? '', credentials.password);
    if (given && userOk && passwordOk) return next();
    res.set('WWW-Authenticate', `Basic realm="${realm}", charset="UTF-8"`);
    res.status(401).type('text/plain').send('authentication required\n');
  };
}
