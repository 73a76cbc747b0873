package dev.distill.service.web;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * One HTTP/1.1 exchange over a plain socket to the loopback server, for requests that {@code
 * java.net.http} refuses to send (a raw {@code {x}} in the path, an invalid escape, a huge header).
 */
final class RawHttp {

  /** A parsed answer; header names lower case. */
  record Answer(int status, Map<String, String> headers, String body) {
    String contentType() {
      return headers.getOrDefault("content-type", "");
    }
  }

  private RawHttp() {}

  static Answer send(
      int port, String method, String target, Map<String, String> headers, String body)
      throws IOException {
    byte[] payload = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
    StringBuilder req = new StringBuilder();
    req.append(method).append(' ').append(target).append(" HTTP/1.1\r\n");
    req.append("Host: localhost:").append(port).append("\r\n");
    req.append("Connection: close\r\n");
    headers.forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
    if (body != null) {
      req.append("Content-Length: ").append(payload.length).append("\r\n");
    }
    req.append("\r\n");
    try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
      s.setSoTimeout(30_000);
      OutputStream out = s.getOutputStream();
      out.write(req.toString().getBytes(StandardCharsets.ISO_8859_1));
      out.write(payload);
      out.flush();
      InputStream in = s.getInputStream();
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      byte[] buf = new byte[8192];
      int n;
      while ((n = in.read(buf)) != -1) {
        got.write(buf, 0, n);
        String head = got.toString(StandardCharsets.ISO_8859_1);
        int end = head.indexOf("\r\n\r\n");
        if (end >= 0
            && head.substring(0, end).toLowerCase(Locale.ROOT).contains("text/event-stream")) {
          return parse(got.toByteArray()); // a stream that stays open: its head is the answer
        }
      }
      return parse(got.toByteArray());
    }
  }

  private static Answer parse(byte[] raw) throws IOException {
    String all = new String(raw, StandardCharsets.ISO_8859_1);
    int end = all.indexOf("\r\n\r\n");
    if (end < 0) {
      throw new IOException("no complete HTTP answer: " + all);
    }
    String[] lines = all.substring(0, end).split("\r\n");
    int status = Integer.parseInt(lines[0].split(" ")[1]);
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      headers.put(
          lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT),
          lines[i].substring(colon + 1).trim());
    }
    byte[] body = java.util.Arrays.copyOfRange(raw, end + 4, raw.length);
    if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))
        && !headers.getOrDefault("content-type", "").contains("event-stream")) {
      body = dechunk(body);
    }
    return new Answer(status, headers, new String(body, StandardCharsets.UTF_8));
  }

  private static byte[] dechunk(byte[] in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    InputStream s = new java.io.ByteArrayInputStream(in);
    while (true) {
      StringBuilder size = new StringBuilder();
      int c;
      while ((c = s.read()) != -1 && c != '\n') {
        if (c != '\r') {
          size.append((char) c);
        }
      }
      if (size.isEmpty()) {
        if (c == -1) {
          return out.toByteArray(); // the connection closed early: what came is the body
        }
        continue;
      }
      int semi = size.indexOf(";");
      int n = Integer.parseInt((semi < 0 ? size : size.substring(0, semi)).toString().trim(), 16);
      if (n == 0) {
        return out.toByteArray();
      }
      out.write(s.readNBytes(n));
      s.read(); // \r
      s.read(); // \n
    }
  }
}
