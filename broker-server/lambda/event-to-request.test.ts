import { httpApiEvent, restApiEvent } from '../../test/support/api-gateway-events';
import { eventToRequest, isHttpApiEvent, isRestApiEvent } from './event-to-request';

describe('eventToRequest', () => {
  it.each([
    ['REST API', restApiEvent({ method: 'GET', path: '/credentials/keys' }), '/credentials/keys'],
    ['REST API whose path carries the stage', restApiEvent({ method: 'GET', path: '/prod/credentials/keys', stage: 'prod' }), '/credentials/keys'],
    ['REST API, stage only', restApiEvent({ method: 'GET', path: '/prod', stage: 'prod' }), '/'],
    ['REST API, a path that merely starts like the stage', restApiEvent({ method: 'GET', path: '/production/health', stage: 'prod' }), '/production/health'],
    ['HTTP API, $default stage', httpApiEvent({ method: 'GET', path: '/credentials/keys' }), '/credentials/keys'],
    ['HTTP API, named stage in rawPath', httpApiEvent({ method: 'GET', path: '/credentials/keys', stage: 'v1' }), '/credentials/keys'],
    ['HTTP API, root of a named stage', httpApiEvent({ method: 'GET', path: '', stage: 'v1' }), '/'],
  ])('%s → %s', (_name, event, url) => {
    expect(eventToRequest(event).url).toBe(url);
  });

  it('strips a custom domain base path, then the stage', () => {
    const event = httpApiEvent({ method: 'GET', path: '/broker/health' });
    expect(eventToRequest(event, { basePath: '/broker' }).url).toBe('/health');
    expect(eventToRequest(event, { basePath: '/broker/' }).url).toBe('/health');
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/broker/health', stage: 'prod' }), { basePath: '/prod/broker' }).url).toBe('/health');
  });

  it.each([
    ['REST API, multi-value parameters re-encoded', restApiEvent({ method: 'GET', path: '/x', query: { idpName: 'a b&c', k: ['1', '2'] } }), '/x?idpName=a+b%26c&k=1&k=2'],
    ['HTTP API, rawQueryString kept byte for byte', httpApiEvent({ method: 'GET', path: '/x', rawQueryString: 'idpName=a%20b&k=1&k=2' }), '/x?idpName=a%20b&k=1&k=2'],
    ['no query', restApiEvent({ method: 'GET', path: '/x' }), '/x'],
  ])('query: %s', (_name, event, url) => {
    expect(eventToRequest(event).url).toBe(url);
  });

  it('REST API: lower-cases names, joins repeated headers, keeps the last single value only when no multi-value exists', () => {
    const event = restApiEvent({ method: 'POST', path: '/credentials/mint', headers: { 'Content-Type': 'application/json', Accept: ['application/json', 'text/plain'], Cookie: ['a=1', 'b=2'] } });
    const request = eventToRequest(event);
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.accept).toBe('application/json, text/plain');
    expect(request.headers.cookie).toBe('a=1; b=2');
    expect(Object.keys(request.headers).every((name) => name === name.toLowerCase())).toBe(true);

    const single = { ...event, multiValueHeaders: {} as Record<string, string[]>, headers: { 'X-Only-Single': 'yes' } };
    expect(eventToRequest(single).headers['x-only-single']).toBe('yes');
  });

  it('passes a repeated Authorization, Content-Type or Host on as repeats, for the server to refuse', () => {
    const rest = eventToRequest(restApiEvent({ method: 'GET', path: '/x', headers: { Authorization: ['Bearer a', 'Bearer b'], 'Content-Type': ['application/json', 'text/plain'] } }));
    expect(rest.headers.authorization).toEqual(['Bearer a', 'Bearer b']);
    expect(rest.headers['content-type']).toEqual(['application/json', 'text/plain']);
    const cased = eventToRequest(restApiEvent({ method: 'GET', path: '/x', headers: { Authorization: 'Bearer a', authorization: 'Bearer b' } }));
    expect(cased.headers.authorization).toEqual(['Bearer a', 'Bearer b']);
    // Payload 2.0 comma-joins repeats; a credential never holds a comma.
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/x', headers: { authorization: ['Bearer a', 'Bearer b'] } })).headers.authorization).toEqual(['Bearer a', 'Bearer b']);
    // Positive controls: one of each stays one string; a Digest header's commas are its own.
    expect(eventToRequest(restApiEvent({ method: 'GET', path: '/x', headers: { Authorization: 'Bearer a' } })).headers.authorization).toBe('Bearer a');
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/x', headers: { authorization: 'Bearer a' } })).headers.authorization).toBe('Bearer a');
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/x', headers: { authorization: 'Digest username="a", realm="b"' } })).headers.authorization).toBe('Digest username="a", realm="b"');
  });

  it('HTTP API: payload 2.0 cookies become one Cookie header', () => {
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/health', cookies: ['a=1', 'b=2'] })).headers.cookie).toBe('a=1; b=2');
  });

  it('drops the gateway connection headers; inject() computes Content-Length from the decoded body', () => {
    const request = eventToRequest(restApiEvent({ method: 'POST', path: '/x', body: '{}', base64: true, headers: { 'Content-Length': '4', Connection: 'keep-alive' } }));
    expect(request.headers['content-length']).toBeUndefined();
    expect(request.headers.connection).toBeUndefined();
    expect(request.payload).toEqual(Buffer.from('{}'));
  });

  it.each([
    ['REST API, text', restApiEvent({ method: 'POST', path: '/x', body: '{"keys":["é"]}' })],
    ['REST API, base64', restApiEvent({ method: 'POST', path: '/x', body: '{"keys":["é"]}', base64: true })],
    ['HTTP API, text', httpApiEvent({ method: 'POST', path: '/x', body: '{"keys":["é"]}' })],
    ['HTTP API, base64', httpApiEvent({ method: 'POST', path: '/x', body: '{"keys":["é"]}', base64: true })],
  ])('body: %s', (_name, event) => {
    expect(eventToRequest(event).payload?.toString('utf8')).toBe('{"keys":["é"]}');
  });

  it('sends no payload for an absent or empty body', () => {
    expect(eventToRequest(restApiEvent({ method: 'GET', path: '/x' })).payload).toBeUndefined();
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/x', body: '' })).payload).toBeUndefined();
  });

  it('takes the client address from the request context, not from X-Forwarded-For', () => {
    const spoofed = { 'X-Forwarded-For': '10.9.9.9' };
    expect(eventToRequest(restApiEvent({ method: 'GET', path: '/x', sourceIp: '198.51.100.4', headers: spoofed })).remoteAddress).toBe('198.51.100.4');
    expect(eventToRequest(httpApiEvent({ method: 'GET', path: '/x', sourceIp: '2001:db8::7', headers: spoofed })).remoteAddress).toBe('2001:db8::7');
  });

  it("adds the Lambda request id unless the caller sent one", () => {
    expect(eventToRequest(restApiEvent({ method: 'GET', path: '/x' }), { requestId: 'aws-req-1234' }).headers['x-request-id']).toBe('aws-req-1234');
    const own = httpApiEvent({ method: 'GET', path: '/x', headers: { 'X-Request-Id': 'caller-chosen-id' } });
    expect(eventToRequest(own, { requestId: 'aws-req-1234' }).headers['x-request-id']).toBe('caller-chosen-id');
  });

  it('tells the payload versions apart', () => {
    expect(isHttpApiEvent(httpApiEvent({ method: 'GET', path: '/' }))).toBe(true);
    expect(isRestApiEvent(httpApiEvent({ method: 'GET', path: '/' }))).toBe(false);
    expect(isRestApiEvent(restApiEvent({ method: 'GET', path: '/' }))).toBe(true);
    expect(isHttpApiEvent(restApiEvent({ method: 'GET', path: '/' }))).toBe(false);
  });
});
