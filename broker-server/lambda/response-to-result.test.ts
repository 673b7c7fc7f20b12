import { toHttpApiResult, toRestApiResult, type InjectedResponse } from './response-to-result';

/** Headers as Node's `getHeaders()` gives them: numbers and repeated values included. */
function response(headers: Record<string, string | number | string[]>, body: string | Buffer, statusCode = 200): InjectedResponse {
  return { statusCode, headers: headers as InjectedResponse['headers'], rawPayload: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8') };
}

const binary = Buffer.from([0x00, 0xff, 0x10, 0x80]);

describe('toRestApiResult / toHttpApiResult', () => {
  it.each([
    ['application/json; charset=utf-8', '{"a":"é"}', false],
    ['text/plain; version=0.0.4; charset=utf-8', 'voidkey_up 1\n', false],
    ['application/problem+json', '{}', false],
    ['application/octet-stream', binary, true],
    ['image/png', binary, true],
    ['text/plain; charset=iso-8859-1', binary, true],
    [undefined, binary, true],
  ])('content-type %s → base64 %s', (type, body, base64) => {
    const injected = response(type ? { 'content-type': type } : {}, body);
    for (const result of [toRestApiResult(injected), toHttpApiResult(injected)]) {
      expect(result.isBase64Encoded).toBe(base64);
      expect(Buffer.from(result.body!, base64 ? 'base64' : 'utf8')).toEqual(Buffer.isBuffer(body) ? body : Buffer.from(body));
    }
  });

  it('sends an empty body as text', () => {
    expect(toHttpApiResult(response({}, '', 204))).toMatchObject({ statusCode: 204, body: '', isBase64Encoded: false });
  });

  it('drops connection and length headers; keeps the rest lower-cased', () => {
    const injected = response({ 'content-type': 'application/json', 'Content-Length': 2, connection: 'close', 'X-Request-Id': 'r-1', 'retry-after': 3 }, '{}', 503);
    const headers = { 'content-type': 'application/json', 'x-request-id': 'r-1', 'retry-after': '3' };
    expect(toRestApiResult(injected)).toEqual({ statusCode: 503, headers, body: '{}', isBase64Encoded: false });
    expect(toHttpApiResult(injected).headers).toEqual(headers);
  });

  it('puts repeated headers in multiValueHeaders (v1) and cookies apart (v2)', () => {
    const injected = response({ 'set-cookie': ['a=1', 'b=2'], vary: ['Origin', 'Accept'], 'content-type': 'application/json' }, '{}');
    expect(toRestApiResult(injected)).toMatchObject({ headers: { 'content-type': 'application/json' }, multiValueHeaders: { 'set-cookie': ['a=1', 'b=2'], vary: ['Origin', 'Accept'] } });
    const v2 = toHttpApiResult(injected);
    expect(v2.cookies).toEqual(['a=1', 'b=2']);
    expect(v2.headers).toEqual({ vary: 'Origin, Accept', 'content-type': 'application/json' });
  });
});
