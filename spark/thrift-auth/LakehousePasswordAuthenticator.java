package io.lakehouse.thrift;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import javax.security.sasl.AuthenticationException;

import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * Username and password check for the Spark Thrift Server
 * (hive.server2.authentication=CUSTOM).
 *
 * HiveServer2 ships no password-file provider, only LDAP, Kerberos and PAM; this one
 * accepts the platform's accounts, whose names and passwords the server process gets from
 * its environment: the analysts' and Superset's (LAKEHOUSE_THRIFT_USER,
 * LAKEHOUSE_THRIFT_PASSWORD) and DQOps's own (LAKEHOUSE_DQOPS_THRIFT_USER,
 * LAKEHOUSE_DQOPS_THRIFT_PASSWORD), so either can be revoked or rotated alone. Generated
 * by `lakehouse up` natively, required from .env in docker compose. An account without
 * both values accepts no login: there is no default account. Every login is read-only
 * (ReadOnlySqlGuard), whoever it is.
 */
public class LakehousePasswordAuthenticator implements PasswdAuthenticationProvider {
  private final byte[][][] accounts = {
    {bytes(System.getenv("LAKEHOUSE_THRIFT_USER")), bytes(System.getenv("LAKEHOUSE_THRIFT_PASSWORD"))},
    {bytes(System.getenv("LAKEHOUSE_DQOPS_THRIFT_USER")), bytes(System.getenv("LAKEHOUSE_DQOPS_THRIFT_PASSWORD"))},
  };

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    byte[] givenUser = bytes(user);
    byte[] givenPassword = bytes(password);
    boolean configured = false;
    boolean accepted = false;
    // Every account compared, user and password both, so timing tells nothing.
    for (byte[][] account : accounts) {
      boolean complete = account[0].length > 0 && account[1].length > 0;
      boolean userOk = MessageDigest.isEqual(account[0], givenUser);
      boolean passwordOk = MessageDigest.isEqual(account[1], givenPassword);
      configured |= complete;
      accepted |= complete & userOk & passwordOk;
    }
    if (!configured) {
      throw new AuthenticationException("Thrift server has no credentials configured");
    }
    if (!accepted) {
      throw new AuthenticationException("invalid username or password");
    }
  }

  private static byte[] bytes(String s) {
    return s == null ? new byte[0] : s.getBytes(StandardCharsets.UTF_8);
  }
}
