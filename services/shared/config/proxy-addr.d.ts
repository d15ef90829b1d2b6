/** The part of proxy-addr (Express's dependency; the package ships no types) that TRUST_PROXY validation uses. */
declare module 'proxy-addr' {
  namespace proxyaddr {
    /** Compiles addresses, subnets and the names `loopback`, `linklocal`, `uniquelocal`; throws on an invalid one. */
    function compile(value: string | string[]): (address: string, hop: number) => boolean;
  }
  function proxyaddr(request: unknown, trust: string | string[] | ((address: string, hop: number) => boolean)): string;
  export = proxyaddr;
}
