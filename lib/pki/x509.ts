/**
 * The one entry point to @peculiar/x509. It needs `reflect-metadata` loaded before it and a WebCrypto provider;
 * importing the library through this module guarantees both, whatever the import order elsewhere.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
