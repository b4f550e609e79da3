package config

import (
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"email-alert/internal/dev/devkeys"
	"email-alert/ratelimit"
)

// parseCIDRs reads "203.0.113.0/24, 2001:db8::/32": the networks whose
// proxies are trusted. A bare address is a network of one.
func parseCIDRs(raw string) ([]string, error) {
	var cidrs []string
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(part)
		if err != nil {
			addr, addrErr := netip.ParseAddr(part)
			if addrErr != nil || addr.Zone() != "" {
				return nil, fmt.Errorf("must be comma-separated CIDRs such as 203.0.113.0/24 (%q is not one)", part)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		cidrs = append(cidrs, prefix.Masked().String())
	}
	return cidrs, nil
}

// headerName is the form of an HTTP header name (RFC 9110's token, as
// header names are written).
var headerName = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)

// oneLoginAccountPages are the account pages of GOV.UK One Login's
// environments, by issuer (docs.sign-in.service.gov.uk).
var oneLoginAccountPages = map[string]string{
	"https://oidc.account.gov.uk/":             "https://home.account.gov.uk/",
	"https://oidc.integration.account.gov.uk/": "https://home.integration.account.gov.uk/",
}

// accountPage is the default of ONE_LOGIN_ACCOUNT_URL: the account page of
// a GOV.UK One Login issuer; on a local setup any other issuer is a
// development provider (dev-oidc), whose home page is its issuer URL; else
// "", none known.
func accountPage(issuer string, local bool) string {
	if page, ok := oneLoginAccountPages[strings.TrimSuffix(issuer, "/")+"/"]; ok {
		return page
	}
	if local {
		return issuer
	}
	return ""
}

// parseRedisURL reads REDIS_URL as asynq does, and also takes the database
// number of a redis-sentinel:// URL (asynq's parser drops it, so two
// services sharing a Sentinel with different databases would share tasks):
// redis-sentinel://[:password@]host:port[,host:port]/<db>?master=<name>.
// The password is the Sentinel's, as asynq reads it.
func parseRedisURL(raw string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return nil, errors.New("must be a redis://, rediss:// or redis-sentinel:// URL")
	}
	failover, ok := opt.(asynq.RedisFailoverClientOpt)
	if !ok {
		return opt, nil
	}
	u, _ := url.Parse(raw) // parsed above
	if failover.MasterName == "" {
		return nil, errors.New("must name the master of a redis-sentinel:// URL (?master=<name>)")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return nil, errors.New("must have a database number as the path of a redis-sentinel:// URL, e.g. /3")
		}
		failover.DB = db
	}
	return failover, nil
}

// queueKinds are the worker's queues, each named <namespace>:<kind>:
// email holds transactional emails; alerts_high and alerts the jobs that
// turn content changes into emails (fan-outs of "high" and normal
// priority, digest runs); bulk-high and bulk the alert emails of high and
// normal priority (mail.Priority).
var queueKinds = []string{"email", "events", "alerts_high", "alerts", "maintenance", "bulk-high", "bulk"}

// QueueKinds returns the kinds of the worker's queues, as queueKinds.
func QueueKinds() []string { return slices.Clone(queueKinds) }

// defaultPriorities serves transactional email first and bulk email last.
const defaultPriorities = "email=7,events=6,alerts_high=5,alerts=4,maintenance=3,bulk-high=2,bulk=1"

// parsePriorities reads "email=7,events=6,…": a rank for every queue. The
// worker serves the queues in strict order (asynq's StrictPriority), so
// ranks must differ, and email must come before bulk-high, and bulk-high
// before bulk: a fan-out of alerts never holds up a sign-in email.
func parsePriorities(raw string) (map[string]int, error) {
	priorities := map[string]int{}
	ranks := map[int]bool{}
	for _, part := range strings.Split(raw, ",") {
		name, weight, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(weight)
		if !ok || err != nil || n < 1 || !slices.Contains(queueKinds, name) || ranks[n] {
			return nil, fmt.Errorf("must be distinct ranks like %s", defaultPriorities)
		}
		priorities[name] = n
		ranks[n] = true
	}
	for _, kind := range queueKinds {
		if priorities[kind] == 0 {
			return nil, fmt.Errorf("must give a rank to each of %s", strings.Join(queueKinds, ", "))
		}
	}
	if priorities["email"] <= priorities["bulk-high"] || priorities["bulk-high"] <= priorities["bulk"] {
		return nil, errors.New("must rank email above bulk-high, and bulk-high above bulk")
	}
	return priorities, nil
}

// parseBaseURL accepts an absolute http(s) URL with a host and nothing
// after the path.
func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an absolute http(s) URL such as https://www.gov.uk")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("must not have a query, fragment or user")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// postgresURL accepts a postgres:// or postgresql:// URL.
func postgresURL(raw string) error {
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("must be a postgres:// URL")
	}
	return nil
}

// hostPort accepts a listen address with a port.
func hostPort(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return errors.New("must be host:port, e.g. 127.0.0.1:3000")
	}
	return nil
}

// parseTokens reads comma-separated bearer tokens: at least one, none
// shorter than 8 characters.
func parseTokens(raw string) ([]string, error) {
	var tokens []string
	for _, t := range strings.Split(raw, ",") {
		if t = strings.TrimSpace(t); t != "" {
			tokens = append(tokens, t)
		}
	}
	if len(tokens) == 0 {
		return nil, errors.New("must list at least one token")
	}
	for _, t := range tokens {
		if len(t) < 8 {
			return tokens, errors.New("has a token shorter than 8 characters")
		}
	}
	return tokens, nil
}

// optionalHTTPURL accepts an http(s) URL or nothing.
func optionalHTTPURL(raw string) error {
	if raw != "" && !isHTTPURL(raw) {
		return errors.New("must be an http(s) URL")
	}
	return nil
}

// clientKey returns the OIDC client's private key: the one in file, else
// none when there is a client secret, else the development key on a local
// setup. Elsewhere one of the two is required.
func clientKey(file string, hasSecret, local bool) (*rsa.PrivateKey, error) {
	switch {
	case file != "":
		pemBytes, err := os.ReadFile(file) //nolint:gosec // the operator names the key file (OIDC_PRIVATE_KEY_FILE)
		if err != nil {
			return nil, fmt.Errorf("must name a readable PEM RSA private key (%w)", err)
		}
		key, err := devkeys.ParseRSAPrivateKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("must name a readable PEM RSA private key (%w)", err)
		}
		return key, nil
	case hasSecret:
		return nil, nil
	case local:
		key, _ := devkeys.ClientKey() // embedded, parsed by its tests
		return key, nil
	default:
		return nil, errors.New("or OIDC_CLIENT_SECRET is required when PUBLIC_URL is not on this machine")
	}
}

// parseVTR reads OIDC_VTR: a JSON array of vectors of trust, or none (nil).
func parseVTR(raw string) ([]string, error) {
	if raw == "none" {
		return nil, nil
	}
	var vtr []string
	if err := json.Unmarshal([]byte(raw), &vtr); err != nil || len(vtr) == 0 {
		return nil, errors.New(`must be a JSON array of strings such as ["Cl.Cm"], or none`)
	}
	return vtr, nil
}

// parseDays reads a whole number of days, at least 1.
func parseDays(raw string) (time.Duration, error) {
	days, err := strconv.Atoi(raw)
	if err != nil || days < 1 {
		return 0, errors.New("must be a whole number of days, at least 1")
	}
	return time.Duration(days) * 24 * time.Hour, nil
}

// parseConcurrency reads how many jobs a worker runs at once.
func parseConcurrency(raw string) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1000 {
		return 0, errors.New("must be a whole number from 1 to 1000")
	}
	return n, nil
}

// parseEmailRateLimit reads one limit, or none (nil: no limit).
func parseEmailRateLimit(raw string) (*ratelimit.Limit, error) {
	if raw == "none" {
		return nil, nil
	}
	limits, err := ratelimit.Parse(raw)
	if err != nil || len(limits) != 1 {
		return nil, errors.New("must be one limit such as 21600/minute, or none")
	}
	return &limits[0], nil
}

// parseTimeOfDay reads "08:00".
func parseTimeOfDay(raw string) (hour, minute int, err error) {
	t, err := time.Parse("15:04", raw)
	if err != nil {
		return 0, 0, errors.New("must be a time of day such as 08:00 (Europe/London)")
	}
	return t.Hour(), t.Minute(), nil
}

// isSMTPURL accepts an smtp:// or smtps:// URL with a host.
func isSMTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "smtp" || u.Scheme == "smtps") && u.Host != ""
}
