import type { APIGatewayProxyEvent, APIGatewayProxyEventV2 } from 'aws-lambda';

/**
 * API Gateway proxy events shaped like the ones AWS documents and sends (every field the
 * gateway fills, nulls included), so the handler meets what it meets in production.
 */
export interface EventInit {
  readonly method: string;
  /** The route path, without stage. */
  readonly path: string;
  /** Repeated headers as arrays; v1 puts them in `multiValueHeaders`, v2 comma-joins them. */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly query?: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string | Buffer;
  /** Send the body base64-encoded (binary media types, or a gateway that chose to). */
  readonly base64?: boolean;
  /** Default `prod` for REST APIs, `$default` for HTTP APIs. */
  readonly stage?: string;
  readonly sourceIp?: string;
}

const API_ID = 'a1b2c3d4e5';
const DOMAIN = `${API_ID}.execute-api.us-east-1.amazonaws.com`;

function encodeBody(init: EventInit): { body: string | null; isBase64Encoded: boolean } {
  if (init.body === undefined) return { body: null, isBase64Encoded: false };
  const bytes = Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body, 'utf8');
  return init.base64 ? { body: bytes.toString('base64'), isBase64Encoded: true } : { body: bytes.toString('utf8'), isBase64Encoded: false };
}

function gatewayHeaders(init: EventInit): Record<string, readonly string[]> {
  const sourceIp = init.sourceIp ?? '203.0.113.7';
  return {
    Host: [DOMAIN],
    'User-Agent': ['voidkey-cli/0.1.0'],
    'X-Amzn-Trace-Id': ['Root=1-5e66d96f-7491f09xmpl79d18acf3d050'],
    'X-Forwarded-For': [sourceIp],
    'X-Forwarded-Port': ['443'],
    'X-Forwarded-Proto': ['https'],
    ...Object.fromEntries(Object.entries(init.headers ?? {}).map(([name, value]) => [name, typeof value === 'string' ? [value] : value])),
  };
}

/** A REST API (payload 1.0) event from a `/{proxy+}` resource. */
export function restApiEvent(init: EventInit): APIGatewayProxyEvent {
  const stage = init.stage ?? 'prod';
  const multiValueHeaders = gatewayHeaders(init);
  const query = Object.entries(init.query ?? {}).map(([name, value]) => [name, typeof value === 'string' ? [value] : [...value]] as const);
  return {
    resource: '/{proxy+}',
    path: init.path,
    httpMethod: init.method,
    headers: Object.fromEntries(Object.entries(multiValueHeaders).map(([name, values]) => [name, values.at(-1)!])),
    multiValueHeaders: Object.fromEntries(Object.entries(multiValueHeaders).map(([name, values]) => [name, [...values]])),
    queryStringParameters: query.length ? Object.fromEntries(query.map(([name, values]) => [name, values.at(-1)!])) : null,
    multiValueQueryStringParameters: query.length ? Object.fromEntries(query) : null,
    pathParameters: { proxy: init.path.replace(/^\//, '') },
    stageVariables: null,
    requestContext: {
      accountId: '123456789012',
      apiId: API_ID,
      authorizer: null,
      domainName: DOMAIN,
      domainPrefix: API_ID,
      protocol: 'HTTP/1.1',
      httpMethod: init.method,
      path: `/${stage}${init.path}`,
      stage,
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      requestTimeEpoch: 1_583_349_317_135,
      resourceId: 'roq9wj',
      resourcePath: '/{proxy+}',
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: init.sourceIp ?? '203.0.113.7',
        user: null,
        userAgent: 'voidkey-cli/0.1.0',
        userArn: null,
      },
    },
    ...encodeBody(init),
  };
}

/** An HTTP API (payload 2.0) event; a named stage shows in `rawPath`, as AWS sends it. */
export function httpApiEvent(init: EventInit & { readonly cookies?: readonly string[]; readonly rawQueryString?: string }): APIGatewayProxyEventV2 {
  const stage = init.stage ?? '$default';
  const rawPath = stage === '$default' ? init.path : `/${stage}${init.path}`;
  const headers = Object.fromEntries(Object.entries(gatewayHeaders(init)).map(([name, values]) => [name.toLowerCase(), values.join(',')]));
  const rawQueryString =
    init.rawQueryString ??
    new URLSearchParams(
      Object.entries(init.query ?? {}).flatMap(([name, value]): Array<[string, string]> => (typeof value === 'string' ? [[name, value]] : value.map((one) => [name, one]))),
    ).toString();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString,
    ...(init.cookies ? { cookies: [...init.cookies] } : {}),
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: API_ID,
      domainName: DOMAIN,
      domainPrefix: API_ID,
      http: { method: init.method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: init.sourceIp ?? '203.0.113.7', userAgent: 'voidkey-cli/0.1.0' },
      requestId: 'JKJaXmPLvHcESHA=',
      routeKey: '$default',
      stage,
      time: '10/Mar/2020:05:16:23 +0000',
      timeEpoch: 1_583_817_383_220,
    },
    ...encodeBody(init),
  } as APIGatewayProxyEventV2;
}
