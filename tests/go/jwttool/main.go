// jwttool: the reference's JWT library (nats-io/jwt/v2) as a test oracle for pynatsd's.
//
//	jwttool mint    prints a JSON object of tokens made by the Go library (an operator, an
//	                account with limits, signing keys, exports, imports and revocations, a
//	                user with every user claim, an activation) and the seeds that signed them
//	jwttool decode  reads tokens from stdin, one a line, and prints for each one line of
//	                JSON: {"claims": <the decoded claims as Go encodes them>} or {"error": ...},
//	                and the validation issues of user claims
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func seed(kp nkeys.KeyPair) string { return string(must(kp.Seed())) }
func pub(kp nkeys.KeyPair) string  { return must(kp.PublicKey()) }

func mint() {
	op := must(nkeys.CreateOperator())
	opSk := must(nkeys.CreateOperator())
	acc := must(nkeys.CreateAccount())
	acc2 := must(nkeys.CreateAccount())
	accSk := must(nkeys.CreateAccount())
	scoped := must(nkeys.CreateAccount())
	usr := must(nkeys.CreateUser())
	out := map[string]string{}

	oc := jwt.NewOperatorClaims(pub(op))
	oc.Name = "O"
	oc.SigningKeys.Add(pub(opSk))
	oc.SystemAccount = pub(acc2)
	oc.AccountServerURL = "http://localhost:9090/jwt/v1"
	oc.StrictSigningKeyUsage = true
	out["operator"] = must(oc.Encode(op))

	ac := jwt.NewAccountClaims(pub(acc))
	ac.Name = "A"
	ac.Tags.Add("team:blue")
	ac.Limits.Conn = 5
	ac.Limits.Subs = 100
	ac.Limits.Payload = 4096
	ac.Limits.Data = 1 << 20
	ac.Limits.LeafNodeConn = 2
	ac.Limits.Imports = 10
	ac.Limits.Exports = 11
	ac.Limits.DisallowBearer = true
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: 1024, DiskStorage: 2048, Streams: 3, Consumer: 4, MaxAckPending: 5}
	ac.Limits.JetStreamTieredLimits = jwt.JetStreamTieredLimits{"R3": {DiskStorage: 4096, Streams: 7}}
	ac.SigningKeys.Add(pub(accSk))
	us := jwt.NewUserScope()
	us.Key = pub(scoped)
	us.Role = "dev"
	us.Template.Pub.Allow.Add("dev.{{name()}}.>")
	us.Template.Sub.Allow.Add("_INBOX.>")
	ac.SigningKeys.AddScopedSigner(us)
	ac.Exports.Add(&jwt.Export{Name: "svc", Subject: "svc.>", Type: jwt.Service, TokenReq: true, ResponseType: jwt.ResponseTypeStream, ResponseThreshold: 3 * time.Second, Latency: &jwt.ServiceLatency{Sampling: 50, Results: "lat.res"}})
	ac.Exports.Add(&jwt.Export{Name: "feed", Subject: "feed.*", Type: jwt.Stream, AccountTokenPosition: 2})
	ac.Exports[0].Revocations = jwt.RevocationList{}
	ac.Exports[0].Revocations.Revoke(pub(acc2), time.Unix(1700000000, 0))
	ac.Imports.Add(&jwt.Import{Name: "other", Subject: "other.>", Account: pub(acc2), Type: jwt.Stream, LocalSubject: "mine.>"})
	ac.Revocations = jwt.RevocationList{}
	ac.Revocations.Revoke(pub(usr), time.Unix(1600000000, 0))
	ac.DefaultPermissions.Pub.Deny.Add("secret.>")
	ac.Mappings = jwt.Mapping{"m.a": {{Subject: "m.b", Weight: 40}, {Subject: "m.c", Weight: 60}}}
	ac.Expires = time.Now().Add(24 * time.Hour).Unix()
	out["account"] = must(ac.Encode(opSk))

	uc := jwt.NewUserClaims(pub(usr))
	uc.Name = "U"
	uc.IssuerAccount = pub(acc)
	uc.Pub.Allow.Add("a.>", "b")
	uc.Pub.Deny.Add("a.secret")
	uc.Sub.Allow.Add("c.*")
	uc.Sub.Deny.Add("c.x")
	uc.Resp = &jwt.ResponsePermission{MaxMsgs: 3, Expires: 2 * time.Second}
	uc.Src.Add("127.0.0.1/32", "10.0.0.0/8")
	uc.Times = append(uc.Times, jwt.TimeRange{Start: "01:02:03", End: "23:00:00"})
	uc.Locale = "Europe/Paris"
	uc.Limits.Subs = 7
	uc.Limits.Payload = 512
	uc.BearerToken = true
	uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeStandard, jwt.ConnectionTypeWebsocket)
	uc.Tags.Add("role:x")
	uc.NotBefore = 1600000000
	out["user"] = must(uc.Encode(accSk))

	act := jwt.NewActivationClaims(pub(acc2))
	act.ImportSubject = "svc.a"
	act.ImportType = jwt.Service
	act.IssuerAccount = pub(acc)
	act.Expires = time.Now().Add(time.Hour).Unix()
	out["activation"] = must(act.Encode(accSk))

	out["operator_seed"] = seed(op)
	out["operator_signing_seed"] = seed(opSk)
	out["account_seed"] = seed(acc)
	out["account_signing_seed"] = seed(accSk)
	out["user_seed"] = seed(usr)
	must(0, json.NewEncoder(os.Stdout).Encode(out))
}

func decode() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 4<<20), 4<<20)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		res := map[string]any{}
		c, err := jwt.Decode(sc.Text())
		if err != nil {
			res["error"] = err.Error()
		} else {
			res["claims"] = c
			vr := jwt.CreateValidationResults()
			c.Validate(vr)
			issues := []string{}
			for _, i := range vr.Issues {
				if i.Blocking || i.TimeCheck {
					issues = append(issues, i.Description)
				}
			}
			res["issues"] = issues
		}
		must(0, enc.Encode(res))
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: jwttool mint|decode")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "mint":
		mint()
	case "decode":
		decode()
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
