package devoidc

import (
	"slices"
	"strings"
)

// person is an account in the directory and a row of the home page.
type person struct {
	Sub   string
	Email string
}

// directoryKey is the form of an email address the directory is keyed by.
func directoryKey(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// signIn returns the sub of the account with email, creating the account
// if the directory has none: it gets Sub(email), or a random sub when that
// one was already given out (to an account that has since moved to another
// email, or been deleted).
func (p *Provider) signIn(email string) string {
	key := directoryKey(email)
	p.mu.Lock()
	defer p.mu.Unlock()
	if sub, ok := p.accounts[key]; ok {
		// The same person; show the address as last typed.
		if i := p.personLocked(sub); i >= 0 {
			p.people[i].Email = email
		}
		return sub
	}
	sub := Sub(email)
	for p.issued[sub] {
		sub = subPrefix + randomString(32) // 43 base64url characters, as Sub's
	}
	p.issued[sub] = true
	p.accounts[key] = sub
	p.people = append(p.people, person{Sub: sub, Email: email})
	return sub
}

// personLocked is the index in p.people of the account sub, or -1. p.mu
// must be held.
func (p *Provider) personLocked(sub string) int {
	return slices.IndexFunc(p.people, func(x person) bool { return x.Sub == sub })
}

// directory returns the accounts, first sign-in first.
func (p *Provider) directory() []person {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.people)
}

// changeEmail moves the account sub to newEmail and returns its old email,
// or says why it cannot: the sub is unknown, or another account has the
// address. Moving an account to its own address (say, to resend the event
// with another email_verified) changes nothing but the address's case.
func (p *Provider) changeEmail(sub, newEmail string) (oldEmail, problem string) {
	key := directoryKey(newEmail)
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.personLocked(sub)
	if i < 0 {
		return "", unknownSub(sub)
	}
	if other, ok := p.accounts[key]; ok && other != sub {
		return "", "Another account (" + other + ") already has the email address " + quote(newEmail) +
			"; email addresses are unique across accounts."
	}
	oldEmail = p.people[i].Email
	delete(p.accounts, directoryKey(oldEmail))
	p.accounts[key] = sub
	p.people[i].Email = newEmail
	return oldEmail, ""
}

// deleteAccount removes the account sub from the directory and returns
// its email, or says why it cannot. Codes and access tokens issued to it
// stop working. Its sub stays in p.issued: it is never given out again.
func (p *Provider) deleteAccount(sub string) (email, problem string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.personLocked(sub)
	if i < 0 {
		return "", unknownSub(sub)
	}
	email = p.people[i].Email
	delete(p.accounts, directoryKey(email))
	p.people = slices.Delete(p.people, i, i+1)
	for k, g := range p.codes {
		if g.sub == sub {
			delete(p.codes, k)
		}
	}
	for k, g := range p.tokens {
		if g.sub == sub {
			delete(p.tokens, k)
		}
	}
	return email, ""
}

func unknownSub(sub string) string {
	if sub == "" {
		return "The form has no sub."
	}
	return "No account has the sub " + quote(sub) + ". dev-oidc knows only the accounts signed in since its last start, " +
		"less those deleted; go back to the home page and try again."
}
