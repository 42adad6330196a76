// The one thing this app keeps across page loads: the DPoP key pair and the refresh token bound
// to it, in IndexedDB. The private key is a non-extractable CryptoKey: scripts on this origin
// can sign with it, but nobody can read it out, so a stolen refresh token is useless elsewhere.
// (IndexedDB stores CryptoKey objects as they are; localStorage could only store strings.)

const DB = 'logi-spa-example';
const STORE = 'session';
const KEY = 'current';

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transaction(mode, operation) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const request = operation(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(request.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

export const loadSession = () => transaction('readonly', (store) => store.get(KEY));
export const saveSession = (session) => transaction('readwrite', (store) => store.put(session, KEY));
export const clearSession = () => transaction('readwrite', (store) => store.delete(KEY));
